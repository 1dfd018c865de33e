//! The recording device: a `BlockDevice` that logs every write and flush so
//! a test can build the disk as it would be after a power cut at any point.
//!
//! The model (dm-log-writes, TigerBeetle): writes completed before the last
//! flush preceding the cut are durable. Each write after it may be lost,
//! kept whole or torn (any subset of its 512-byte sectors kept), and the
//! kept ones reach the medium in any order, so an older write to the same
//! block may land after a newer one.

use crate::device::check_request;
use crate::{BlockDevice, DeviceError, MemDevice, BLOCK_SIZE, SECTOR_SIZE};

/// One logged operation.
#[derive(Clone, Debug)]
pub enum Op {
    Write { first: u64, data: Vec<u8> },
    Flush,
}

/// What happens to the writes after the last flush before the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// All unflushed writes are lost.
    DropAll,
    /// All unflushed writes reached the disk, in order.
    KeepAll,
    /// Each unflushed block is lost, kept or torn at random; kept ones land
    /// in a random order.
    Random,
}

/// A small deterministic generator (SplitMix64) so a failing crash state is
/// replayed from its seed.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A device that records every write and flush on top of a base image.
pub struct RecordingDevice {
    base: Vec<u8>,
    live: MemDevice,
    ops: Vec<Op>,
}

impl RecordingDevice {
    /// Starts recording on top of `image` (the durable state at op 0).
    pub fn new(image: Vec<u8>) -> Self {
        let live = MemDevice::from_image(image.clone());
        Self {
            base: image,
            live,
            ops: Vec::new(),
        }
    }
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
    /// The state with every write applied (no crash).
    pub fn live_image(&self) -> &[u8] {
        self.live.image()
    }
    /// Positions just after each flush (crash points where nothing is in flight).
    pub fn flush_points(&self) -> Vec<usize> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op, Op::Flush))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// The disk after a power cut when the first `cut` ops had been issued.
    pub fn crash_image(&self, cut: usize, mode: CutMode, rng: &mut SplitMix) -> Vec<u8> {
        let cut = cut.min(self.ops.len());
        let durable_end = self.ops[..cut]
            .iter()
            .rposition(|op| matches!(op, Op::Flush))
            .map_or(0, |i| i + 1);
        let mut image = self.base.clone();
        for op in &self.ops[..durable_end] {
            if let Op::Write { first, data } = op {
                let at = *first as usize * BLOCK_SIZE;
                image[at..at + data.len()].copy_from_slice(data);
            }
        }
        // Unflushed writes, split into blocks: (block, data of that block).
        let mut pending: Vec<(u64, &[u8])> = Vec::new();
        for op in &self.ops[durable_end..cut] {
            if let Op::Write { first, data } = op {
                for (i, block) in data.chunks_exact(BLOCK_SIZE).enumerate() {
                    pending.push((first + i as u64, block));
                }
            }
        }
        match mode {
            CutMode::DropAll => {}
            CutMode::KeepAll => {
                for (block, data) in pending {
                    let at = block as usize * BLOCK_SIZE;
                    image[at..at + BLOCK_SIZE].copy_from_slice(data);
                }
            }
            CutMode::Random => {
                // Fisher-Yates: the order in which kept writes land.
                for i in (1..pending.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    pending.swap(i, j);
                }
                for (block, data) in pending {
                    let at = block as usize * BLOCK_SIZE;
                    match rng.below(4) {
                        0 => {} // lost
                        1 => {
                            // torn: each sector kept or not
                            let mask = rng.next_u64();
                            for s in 0..BLOCK_SIZE / SECTOR_SIZE {
                                if mask >> s & 1 == 1 {
                                    let o = s * SECTOR_SIZE;
                                    image[at + o..at + o + SECTOR_SIZE]
                                        .copy_from_slice(&data[o..o + SECTOR_SIZE]);
                                }
                            }
                        }
                        _ => image[at..at + BLOCK_SIZE].copy_from_slice(data),
                    }
                }
            }
        }
        image
    }
}

impl BlockDevice for RecordingDevice {
    fn block_count(&self) -> u64 {
        self.live.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.live.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        check_request(first, data.len(), self.live.block_count())?;
        self.ops.push(Op::Write {
            first,
            data: data.to_vec(),
        });
        self.live.write(first, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.ops.push(Op::Flush);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_image_respects_flushes() {
        let mut dev = RecordingDevice::new(vec![0u8; 4 * BLOCK_SIZE]);
        dev.write(0, &[1u8; BLOCK_SIZE]).unwrap();
        dev.flush().unwrap();
        dev.write(1, &[2u8; BLOCK_SIZE]).unwrap();
        let mut rng = SplitMix(1);
        let dropped = dev.crash_image(3, CutMode::DropAll, &mut rng);
        assert_eq!(dropped[0], 1);
        assert_eq!(dropped[BLOCK_SIZE], 0);
        let kept = dev.crash_image(3, CutMode::KeepAll, &mut rng);
        assert_eq!(kept[BLOCK_SIZE], 2);
        assert_eq!(dev.flush_points(), vec![2]);
        // Random cuts only ever produce old or new sectors.
        for seed in 0..50 {
            let img = dev.crash_image(3, CutMode::Random, &mut SplitMix(seed));
            for s in 0..8 {
                let v = img[BLOCK_SIZE + s * SECTOR_SIZE];
                assert!(v == 0 || v == 2);
                assert!(
                    img[BLOCK_SIZE + s * SECTOR_SIZE..BLOCK_SIZE + (s + 1) * SECTOR_SIZE]
                        .iter()
                        .all(|&x| x == v)
                );
            }
        }
    }
}
