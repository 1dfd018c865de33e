//! A journal written by a bigger configuration than the mounting service
//! holds in memory: the largest the format allows (16384 blocks, 64 MiB),
//! with 40 MiB of live transactions; and an allocator that counts the peak
//! bytes held (a test binary that uses it declares it `#[global_allocator]`).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

/// Counts the bytes this test binary holds, and their peak.
pub struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// Safety: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let held = HELD.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(held, Ordering::SeqCst);
        // Safety: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
        // Safety: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

pub static ALLOCATOR: Counting = Counting;

pub const JOURNAL_BLOCKS: u64 = 16384;
/// Images per transaction; two transactions of different blocks.
pub const IMAGES: u64 = 5000;
/// What mount may hold at its peak beyond what it returns with.
pub const REPLAY_BOUND: usize = 8 << 20;

/// The mounting service's configuration: a small cache.
pub fn config() -> Config {
    Config {
        cache_blocks: 256,
        journal_blocks: JOURNAL_BLOCKS,
        group_commit_blocks: 256,
    }
}

/// The writer's: a cache big enough that its transactions are not
/// checkpointed (a checkpoint starts when half the cache is dirty).
fn writer_config() -> Config {
    Config {
        cache_blocks: 4 * IMAGES as usize + 64,
        ..config()
    }
}

/// A device whose journal holds two live transactions of `IMAGES` images
/// each (bytes 1 and 2), never checkpointed; and the first block of each
/// transaction's area.
pub fn device_with_a_large_live_journal() -> (MemDevice, [u64; 2]) {
    let mut s =
        BlockStore::format(MemDevice::new(JOURNAL_BLOCKS + 2 * IMAGES + 600), config()).unwrap();
    s.begin().unwrap();
    let areas = [s.allocate(IMAGES).unwrap(), s.allocate(IMAGES).unwrap()];
    s.commit(Durability::Durable).unwrap();
    let mut s = BlockStore::mount(s.unmount().unwrap(), writer_config()).unwrap();
    for (v, area) in [1u8, 2].into_iter().zip(&areas) {
        s.begin().unwrap();
        s.write(area.start, &vec![v; IMAGES as usize * BLOCK_SIZE])
            .unwrap();
        s.commit(Durability::Durable).unwrap();
    }
    assert_eq!(s.stats().checkpoints, 0, "the transactions must stay live");
    (s.into_device(), [areas[0].start, areas[1].start])
}

/// Peak bytes held while `f` runs, above what was held when it began.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = HELD.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}
