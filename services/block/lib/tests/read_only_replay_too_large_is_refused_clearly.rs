//! The disk fails a write while mount replays a large journal: holding
//! every replayed image for a read-only mount would outgrow the service, so
//! the mount is refused with both numbers named, within bounded memory,
//! and the journal is left for a healthy disk to replay.

mod faults;
mod large_journal;

use block::{BlockStore, Error, Transactional, BLOCK_SIZE};
use faults::Faulty;
use large_journal::*;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn read_only_replay_too_large_for_memory_is_refused_clearly() {
    let (dev, areas) = device_with_a_large_live_journal();
    let mut dev = Faulty::new(dev);
    dev.fail_writes = true;
    let copy = dev.clone();
    let (r, peak) = peak_during(|| BlockStore::mount(copy, config()).map(|_| ()));
    let limit = block::READ_ONLY_REPLAY_BLOCKS;
    match r {
        Err(Error::ReplayTooLarge { blocks, limit: l }) => {
            assert_eq!(l, limit);
            assert!(blocks > limit, "{blocks}");
            let text = Error::ReplayTooLarge { blocks, limit: l }.to_string();
            assert!(text.contains(&blocks.to_string()) && text.contains(&limit.to_string()));
        }
        other => panic!("want ReplayTooLarge, got {other:?}"),
    }
    assert!(
        peak < limit as usize * BLOCK_SIZE + REPLAY_BOUND,
        "the refused mount held {peak} bytes"
    );
    // The journal is untouched: a healthy disk replays it all.
    dev.fail_writes = false;
    let mut s = BlockStore::mount(dev, config()).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(areas[1] + IMAGES - 1, &mut buf).unwrap();
    assert_eq!(buf[0], 2);
}
