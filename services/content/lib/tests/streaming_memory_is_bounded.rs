//! Streaming put and get keep a small working set whatever the object's
//! size: a counting allocator measures the peak heap growth while 64 MiB
//! stream in (1 MiB slices generated on the fly, a transaction every
//! 4 MiB) and back out (verified); it stays far below the object's size
//! and does not grow from a 16 MiB object to a 64 MiB one.
//!
//! The block layer keeps journaled images in memory until a checkpoint
//! (bounded by its journal size, not by the object); the test checkpoints
//! after each commit so the figure is the content store's own working set.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use block::{Durability, Transactional};
use content::{ChunkWriter, ObjectReader};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// Safety: forwards to the system allocator unchanged and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Safety: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // Safety: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Streams an object of `mib` MiB in and out; returns the peak heap growth
/// above the level before the put.
fn peak_growth(mib: usize) -> usize {
    let (mut tx, mut store) = common::new_store_with(
        20_000,
        block::Config {
            cache_blocks: 64,
            ..common::config()
        },
    );
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);

    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    let mut hasher = blake3::Hasher::new();
    tx.begin().unwrap();
    for i in 0..mib {
        let piece = common::noise(1 << 20, i as u64 + 1);
        hasher.update(&piece);
        w.write(&mut store, &mut tx, &piece, |r| refs.push(r))
            .unwrap();
        if i % 4 == 3 {
            common::save_root(&mut tx, &store);
            tx.commit(Durability::Batched).unwrap();
            tx.checkpoint().unwrap();
            tx.begin().unwrap();
        }
    }
    w.finish(&mut store, &mut tx, |r| refs.push(r)).unwrap();
    common::save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();

    let mut reader = ObjectReader::new(&refs);
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    let mut back = blake3::Hasher::new();
    loop {
        let n = reader.read_at(&store, &mut tx, offset, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.update(&buf[..n]);
        offset += n as u64;
    }
    assert_eq!(offset, (mib << 20) as u64);
    assert_eq!(
        back.finalize(),
        hasher.finalize(),
        "the object read back differs"
    );
    PEAK.load(Ordering::Relaxed) - base
}

#[test]
fn peak_heap_growth_does_not_depend_on_object_size() {
    let small = peak_growth(16);
    let large = peak_growth(64);
    println!(
        "peak heap growth: 16 MiB object {} KiB, 64 MiB object {} KiB",
        small / 1024,
        large / 1024
    );
    // Block cache (64 blocks), one chunk in the writer, one in the reader,
    // the 1 MiB slices and buffers: a few MiB at most.
    assert!(large < 4 << 20, "64 MiB object: peak growth {large} bytes");
    // 4x the data must not mean noticeably more memory: only the caller's
    // reference list grows (36 bytes per chunk, ~100 KiB at its peak).
    assert!(
        large < small + (512 << 10),
        "growth {small} -> {large} bytes"
    );
}
