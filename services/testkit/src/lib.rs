//! Shared support of the storage crates' tests (`block`, `content`,
//! `filesystem`): the power-cut set-up their crash tests used to write out
//! each on its own, and deterministic test data. A dev-dependency only.
//!
//! The simulated device is the block layer's
//! [`block::crash::RecordingDevice`]: it records every write and flush and
//! builds the disk as a power cut at any point leaves it (unflushed writes
//! dropped, kept, or reordered and torn, see [`CutMode`]). Around it, here:
//! - [`record_from`]: a block store that records from a given image on;
//! - [`Cuts`]: which crash points of a recorded run to try: every flush,
//!   the end, points just before flushes, seeded samples in between;
//! - [`crash_image`]: the disk after one cut, replayable from its seed;
//! - [`noise`]: deterministic incompressible bytes, distinct per seed;
//! - [`SplitMix`] and [`XorShift64`]: the seeded generators of the tests;
//! - [`CountingReads`]: a device that counts the reads made through it,
//!   for the tests that bound a walk's node reads.
//!
//! # Design principles
//! - Deterministic: every random choice comes from a seed the test names,
//!   so a failing crash state is replayed from its message.
//! - Only what the suites share lives here; each keeps its own model of
//!   what a recovered store must show, and its own checks.

use std::collections::BTreeSet;

pub use block::crash::{CutMode, Op, RecordingDevice, SplitMix};
use block::{BlockStore, Config, Durability, Error, Extent, Transactional, BLOCK_SIZE};

/// A block store on a recording device whose durable state at op 0 is
/// `image` (mounting it, with any recovery, is recorded too).
pub fn record_from(image: Vec<u8>, config: Config) -> BlockStore<RecordingDevice> {
    BlockStore::mount(RecordingDevice::new(image), config).expect("mount the recording device")
}

/// The disk after a power cut once `cut` recorded ops had been issued,
/// the unflushed writes treated as `mode` says (`seed` drives `Random`).
pub fn crash_image(dev: &RecordingDevice, cut: usize, mode: CutMode, seed: u64) -> Vec<u8> {
    dev.crash_image(cut, mode, &mut SplitMix(seed))
}

/// Crash points of a recorded run (op indices `0..=ops`), sorted and
/// without repeats.
#[derive(Clone, Debug)]
pub struct Cuts {
    ops: usize,
    flushes: Vec<usize>,
    points: BTreeSet<usize>,
}

impl Cuts {
    /// After each flush (nothing in flight) and at the end of the run.
    pub fn at_flushes(dev: &RecordingDevice) -> Cuts {
        let ops = dev.ops().len();
        let flushes = dev.flush_points();
        let mut points: BTreeSet<usize> = flushes.iter().copied().collect();
        points.insert(ops);
        Cuts {
            ops,
            flushes,
            points,
        }
    }

    /// Every op index: the exhaustive run.
    pub fn every(dev: &RecordingDevice) -> Cuts {
        let mut c = Cuts::at_flushes(dev);
        c.points.extend(0..=c.ops);
        c
    }

    /// Adds the points `back` ops before each flush (a commit's writes in
    /// flight).
    pub fn before_flushes(mut self, back: usize) -> Cuts {
        self.points
            .extend(self.flushes.iter().map(|p| p.saturating_sub(back)));
        self
    }

    /// Adds `count` points drawn uniformly from `0..=ops` with `rng`.
    pub fn random(mut self, count: usize, rng: &mut SplitMix) -> Cuts {
        for _ in 0..count {
            self.points.insert(rng.below(self.ops as u64 + 1) as usize);
        }
        self
    }

    /// Adds every `step`-th op index from 0 (a step of 0 counts as 1).
    pub fn every_nth(mut self, step: usize) -> Cuts {
        self.points.extend((0..self.ops).step_by(step.max(1)));
        self
    }

    /// Ops recorded in the run.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Whether `cut` falls right after a flush (nothing in flight there).
    pub fn is_flush_point(&self, cut: usize) -> bool {
        self.flushes.binary_search(&cut).is_ok()
    }

    /// The points, in order.
    pub fn to_vec(&self) -> Vec<usize> {
        self.points.iter().copied().collect()
    }
}

/// Marsaglia's xorshift64 (shifts 13, 7, 17): the tests' cheap generator
/// where [`SplitMix`]'s mixing is not needed. The state is the seed as
/// given (a zero state stays zero).
#[derive(Clone, Debug)]
pub struct XorShift64(pub u64);

impl XorShift64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// In 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Deterministic incompressible bytes (xorshift64), distinct per seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `inner` (a store, or `&mut` one), counting the reads made through it:
/// calls, blocks and bytes, and the sealed node images written
/// (`write_verified`, which the default `write_sealing` calls after its
/// seal: one seal each). Every other operation passes straight through.
pub struct CountingReads<S> {
    pub inner: S,
    pub calls: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub node_writes: u64,
}

impl<S> CountingReads<S> {
    pub fn new(inner: S) -> CountingReads<S> {
        CountingReads {
            inner,
            calls: 0,
            blocks: 0,
            bytes: 0,
            node_writes: 0,
        }
    }
}

impl<S: Transactional> Transactional for CountingReads<S> {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        self.inner.root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.calls += 1;
        self.blocks += (buf.len() / BLOCK_SIZE) as u64;
        self.bytes += buf.len() as u64;
        self.inner.read(first, buf)
    }
    fn begin(&mut self) -> Result<(), Error> {
        self.inner.begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.inner.write(first, data)
    }
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.node_writes += 1;
        self.inner.write_verified(block, data)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.inner.write_fresh(first, data)
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.inner.allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.inner.free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.inner.is_allocated(block)
    }
    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.inner.commit(durability)
    }
    fn abort(&mut self) {
        self.inner.abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        self.inner.sync()
    }
    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        self.inner.free_blocks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

    fn recorded_run() -> RecordingDevice {
        let config = Config {
            cache_blocks: 16,
            journal_blocks: 24,
            group_commit_blocks: 8,
        };
        let image = BlockStore::format(MemDevice::new(64), config)
            .unwrap()
            .into_device()
            .into_image();
        let mut store = record_from(image, config);
        for i in 0..3u8 {
            store.begin().unwrap();
            let at = store.root_block(0);
            store.write(at, &[i + 1; BLOCK_SIZE]).unwrap();
            store.commit(Durability::Durable).unwrap();
        }
        store.into_device()
    }

    #[test]
    fn cuts_are_flushes_end_and_what_is_added_sorted_once() {
        let dev = recorded_run();
        let ops = dev.ops().len();
        let flushes = dev.flush_points();
        assert!(flushes.len() >= 3, "{flushes:?}");
        let at = Cuts::at_flushes(&dev);
        let mut want = flushes.clone();
        want.push(ops);
        want.sort_unstable();
        want.dedup();
        assert_eq!(at.to_vec(), want);
        assert!(flushes.iter().all(|&f| at.is_flush_point(f)));
        assert!(!at.is_flush_point(flushes[0] - 1));
        let before = Cuts::at_flushes(&dev).before_flushes(2).to_vec();
        assert!(flushes
            .iter()
            .all(|f| before.contains(&f.saturating_sub(2))));
        assert_eq!(Cuts::every(&dev).to_vec(), (0..=ops).collect::<Vec<_>>());
        let mut r1 = SplitMix(5);
        let mut r2 = SplitMix(5);
        let a = Cuts::at_flushes(&dev).random(10, &mut r1).to_vec();
        let b = Cuts::at_flushes(&dev).random(10, &mut r2).to_vec();
        assert_eq!(a, b, "the same seed gives the same cuts");
        assert!(a.windows(2).all(|w| w[0] < w[1]) && *a.last().unwrap() == ops);
        let nth = Cuts::at_flushes(&dev).every_nth(2).to_vec();
        assert!((0..ops).step_by(2).all(|p| nth.contains(&p)));
    }

    #[test]
    fn crash_image_replays_from_its_seed() {
        let dev = recorded_run();
        let cut = dev.ops().len() - 1;
        assert_eq!(
            crash_image(&dev, cut, CutMode::Random, 9),
            crash_image(&dev, cut, CutMode::Random, 9)
        );
        assert_eq!(
            crash_image(&dev, dev.ops().len(), CutMode::DropAll, 0),
            dev.live_image()
        );
    }

    #[test]
    fn noise_is_deterministic_and_distinct_per_seed() {
        assert_eq!(noise(1, 1000), noise(1, 1000));
        assert_ne!(noise(1, 1000), noise(2, 1000));
        assert_eq!(noise(3, 13).len(), 13);
        assert_eq!(&noise(4, 100)[..50], &noise(4, 50)[..]);
    }
}
