//! A journal written by a bigger configuration than the mounting service
//! holds in memory (the largest the format allows, 64 MiB, with 40 MiB of
//! live transactions) mounts within a few MiB: replay streams a group of
//! images at a time (the block service runs in 32 MiB). Before, replay
//! gathered every image of the log in memory.

mod large_journal;

use block::{BlockStore, Transactional, BLOCK_SIZE};
use large_journal::*;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn replay_of_a_large_journal_has_bounded_memory() {
    let (dev, areas) = device_with_a_large_live_journal();
    let (s, peak) = peak_during(|| BlockStore::mount(dev, config()));
    let mut s = s.unwrap();
    assert_eq!(s.stats().transactions_replayed, 2);
    let live_bytes = 2 * IMAGES as usize * BLOCK_SIZE;
    assert!(
        peak < REPLAY_BOUND,
        "mount held {peak} bytes at its peak replaying {live_bytes} bytes of images"
    );
    let mut buf = vec![0u8; IMAGES as usize * BLOCK_SIZE];
    for (v, start) in [1u8, 2].into_iter().zip(areas) {
        s.read(start, &mut buf).unwrap();
        assert!(
            buf.iter().all(|&b| b == v),
            "area at {start} lost its transaction"
        );
    }
    assert!(s.check().unwrap().is_clean());
    // Replayed for good: the next mount replays nothing.
    let s = BlockStore::mount(s.unmount().unwrap(), config()).unwrap();
    assert_eq!(s.stats().transactions_replayed, 0);
}
