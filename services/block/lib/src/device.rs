//! The device abstraction: numbered 4096-byte blocks, flush, and batches of
//! requests that the device may complete in any order.
//!
//! # Assumptions the block layer makes of every device
//! - A 512-byte sector is written atomically: after a power cut it holds
//!   either its old or its new contents. A 4096-byte block may be torn into
//!   any mix of old and new sectors.
//! - Writes not followed by a completed `flush` may be lost or reach the
//!   medium in any order. Everything written before `flush` returned is
//!   durable.
//! - Reads return the last data written (durable or not).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::BLOCK_SIZE;

/// A device failure, or a request the device refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The request reaches past the end of the device.
    OutOfRange {
        first: u64,
        blocks: u64,
        block_count: u64,
    },
    /// The buffer length is zero or not a multiple of BLOCK_SIZE.
    BadLength { len: usize },
    /// The device reported an I/O error (`code` is device specific).
    Io { first: u64, code: i32 },
    /// The simulated power has been cut (test devices only).
    PoweredOff,
    /// The process serving the device (the block service, seen from its
    /// clients) died with the request unanswered; the supervisor restarts
    /// it, and the request's transaction is gone.
    ServiceDied,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { first, blocks, block_count } => write!(
                f,
                "request for {blocks} blocks at block {first} reaches past the device end ({block_count} blocks)"
            ),
            Self::BadLength { len } => {
                write!(f, "buffer of {len} bytes is not a non-zero multiple of {BLOCK_SIZE}")
            }
            Self::Io { first, code } => {
                write!(f, "the disk failed a request at block {first} (device code {code})")
            }
            Self::PoweredOff => write!(f, "device is powered off"),
            Self::ServiceDied => write!(
                f,
                "the block service died before answering (it is restarted; try again)"
            ),
        }
    }
}

impl core::error::Error for DeviceError {}

/// One request of a batch given to [`BlockDevice::submit`].
#[derive(Debug)]
pub enum IoRequest<'a> {
    /// Read blocks `first..` into `buf` (a non-zero multiple of BLOCK_SIZE).
    Read { first: u64, buf: &'a mut [u8] },
    /// Write `data` (a non-zero multiple of BLOCK_SIZE) to blocks `first..`.
    Write { first: u64, data: &'a [u8] },
}

impl IoRequest<'_> {
    pub fn first(&self) -> u64 {
        match self {
            Self::Read { first, .. } | Self::Write { first, .. } => *first,
        }
    }
    pub fn blocks(&self) -> u64 {
        let len = match self {
            Self::Read { buf, .. } => buf.len(),
            Self::Write { data, .. } => data.len(),
        };
        (len / BLOCK_SIZE) as u64
    }
}

/// A device of numbered 4096-byte blocks.
pub trait BlockDevice {
    fn block_count(&self) -> u64;
    /// `buf.len()` is a non-zero multiple of BLOCK_SIZE; reads blocks first.. .
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError>;
    /// Everything written before the flush is durable when it returns.
    fn flush(&mut self) -> Result<(), DeviceError>;
    /// `write`, then `flush`: `data` and everything written before it are
    /// durable when it returns. A device that does both in one request
    /// (virtio-blk's FUA write: one call to the driver instead of two)
    /// overrides it and [`BlockDevice::durable_write_is_one_request`]; on
    /// a failure either may have happened or not.
    fn write_durable(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.write(first, data)?;
        self.flush()
    }
    /// Whether `write_durable` is one request of its own. When it is not,
    /// the store writes and flushes separately (so a failure names which).
    fn durable_write_is_one_request(&self) -> bool {
        false
    }
    /// Several requests at once; the device may complete them in any order.
    /// The default runs them one after the other; a device with a queue
    /// (virtio) overrides it to keep several in flight.
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        for request in batch.iter_mut() {
            match request {
                IoRequest::Read { first, buf } => self.read(*first, buf)?,
                IoRequest::Write { first, data } => self.write(*first, data)?,
            }
        }
        Ok(())
    }
}

/// Checks a request against the device size; returns its length in blocks.
pub fn check_request(first: u64, len: usize, block_count: u64) -> Result<u64, DeviceError> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(DeviceError::BadLength { len });
    }
    let blocks = (len / BLOCK_SIZE) as u64;
    match first.checked_add(blocks) {
        Some(end) if end <= block_count => Ok(blocks),
        _ => Err(DeviceError::OutOfRange {
            first,
            blocks,
            block_count,
        }),
    }
}

/// A device held in memory: the fake behind unit tests, and the medium the
/// crash tests mount after a simulated power cut. `flush` has nothing to do.
#[derive(Clone)]
pub struct MemDevice {
    bytes: Vec<u8>,
}

impl MemDevice {
    /// A zero-filled device of `block_count` blocks.
    pub fn new(block_count: u64) -> Self {
        Self {
            bytes: vec![0; block_count as usize * BLOCK_SIZE],
        }
    }
    /// A device holding `image` (its length is rounded down to whole blocks).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() / BLOCK_SIZE * BLOCK_SIZE);
        Self { bytes: image }
    }
    pub fn image(&self) -> &[u8] {
        &self.bytes
    }
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
    pub fn into_image(self) -> Vec<u8> {
        self.bytes
    }
}

impl BlockDevice for MemDevice {
    fn block_count(&self) -> u64 {
        (self.bytes.len() / BLOCK_SIZE) as u64
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_request(first, buf.len(), self.block_count())?;
        let at = first as usize * BLOCK_SIZE;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        check_request(first, data.len(), self.block_count())?;
        let at = first as usize * BLOCK_SIZE;
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        Ok(())
    }
}

/// Writes a set of blocks as few, sorted requests: adjacent blocks are merged
/// into one request (copied into one buffer) and the whole set goes to the
/// device as one batch. Returns the number of requests submitted.
pub fn write_sorted<D: BlockDevice + ?Sized>(
    device: &mut D,
    blocks: &mut [(u64, &[u8])],
) -> Result<usize, DeviceError> {
    blocks.sort_unstable_by_key(|(block, _)| *block);
    // Runs of consecutive block numbers, each gathered into one buffer.
    let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
    for (block, data) in blocks.iter() {
        match runs.last_mut() {
            Some((start, buf)) if *start + (buf.len() / BLOCK_SIZE) as u64 == *block => {
                buf.extend_from_slice(data)
            }
            Some((start, buf)) if *start + (buf.len() / BLOCK_SIZE) as u64 > *block => {
                // The same block twice: the later image wins.
                let at = (*block - *start) as usize * BLOCK_SIZE;
                buf[at..at + BLOCK_SIZE].copy_from_slice(data);
            }
            _ => runs.push((*block, data.to_vec())),
        }
    }
    let mut batch: Vec<IoRequest<'_>> = runs
        .iter()
        .map(|(first, data)| IoRequest::Write {
            first: *first,
            data,
        })
        .collect();
    device.submit(&mut batch)?;
    Ok(batch.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_device_round_trip_and_bounds() {
        let mut dev = MemDevice::new(4);
        let data = vec![7u8; BLOCK_SIZE * 2];
        dev.write(2, &data).unwrap();
        let mut back = vec![0u8; BLOCK_SIZE * 2];
        dev.read(2, &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(
            dev.write(3, &data),
            Err(DeviceError::OutOfRange {
                first: 3,
                blocks: 2,
                block_count: 4
            })
        );
        assert_eq!(
            dev.read(0, &mut [0u8; 100]),
            Err(DeviceError::BadLength { len: 100 })
        );
        assert_eq!(dev.read(0, &mut []), Err(DeviceError::BadLength { len: 0 }));
    }

    /// Counts requests so the merge can be checked.
    struct Counting(MemDevice, usize);
    impl BlockDevice for Counting {
        fn block_count(&self) -> u64 {
            self.0.block_count()
        }
        fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
            self.0.read(first, buf)
        }
        fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
            self.1 += 1;
            self.0.write(first, data)
        }
        fn flush(&mut self) -> Result<(), DeviceError> {
            Ok(())
        }
    }

    #[test]
    fn write_sorted_merges_adjacent_blocks() {
        let mut dev = Counting(MemDevice::new(16), 0);
        let images: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; BLOCK_SIZE]).collect();
        // Blocks 5,3,4 and 9,10 and 1: three runs.
        let mut set: Vec<(u64, &[u8])> = vec![
            (5, &images[0]),
            (3, &images[1]),
            (9, &images[2]),
            (4, &images[3]),
            (1, &images[4]),
            (10, &images[5]),
        ];
        assert_eq!(write_sorted(&mut dev, &mut set).unwrap(), 3);
        assert_eq!(dev.1, 3);
        let mut b = vec![0u8; BLOCK_SIZE];
        for (block, want) in [(5u64, 0u8), (3, 1), (9, 2), (4, 3), (1, 4), (10, 5)] {
            dev.read(block, &mut b).unwrap();
            assert!(b.iter().all(|&x| x == want), "block {block}");
        }
    }
}
