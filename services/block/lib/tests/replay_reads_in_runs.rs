//! Mount replays a large transaction with a few long reads (the images of a
//! descriptor come in at most two requests), not one request per block:
//! under QEMU every request costs ~200 us. (Replay reads the log twice:
//! checked whole first, then written home; `replay.rs`.)

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

#[test]
fn replay_of_a_large_transaction_takes_few_requests() {
    let config = Config {
        cache_blocks: 2048,
        journal_blocks: 1024,
        group_commit_blocks: 64,
    };
    let mut s = BlockStore::format(MemDevice::new(3000), config).unwrap();
    s.begin().unwrap();
    let e = s.allocate(600).unwrap();
    s.write(e.start, &vec![3u8; 600 * BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    let mut s = BlockStore::mount(s.into_device(), config).unwrap();
    let st = s.stats();
    assert_eq!(st.transactions_replayed, 1);
    // 2 superblocks, 2 descriptor pairs, 2 image+parity runs, the commit
    // pair, the header pair after it, the scan of the rest of the journal
    // for later commits (412 blocks in runs of 256, split where it wraps:
    // at most 3), 1 bitmap block: at most 12 requests for 1024 blocks; then
    // replay's second read, which writes the images home a group at a time
    // (so that its memory stays bounded): the 2 descriptor pairs, the 2
    // image+parity runs and the commit pair again, 5 more.
    assert!(st.device_reads <= 17, "{st:?}");
    let mut buf = vec![0u8; 600 * BLOCK_SIZE];
    s.read(e.start, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 3));
}
