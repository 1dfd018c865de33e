//! A read over cached and uncached blocks returns the right bytes, taking
//! cached ones from the cache and each run of misses as one device request
//! (all runs submitted as one batch).

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

#[test]
fn mixed_read_is_correct_and_merged() {
    let config = Config {
        cache_blocks: 64,
        journal_blocks: 64,
        group_commit_blocks: 16,
    };
    let mut s = BlockStore::format(MemDevice::new(400), config).unwrap();
    s.begin().unwrap();
    let e = s.allocate(12).unwrap();
    let data: Vec<u8> = (0..12u8).flat_map(|i| vec![i + 1; BLOCK_SIZE]).collect();
    s.write_fresh(e.start, &data).unwrap();
    s.commit(Durability::Durable).unwrap();
    // Cache blocks 3 and 7 of the extent; one more in the open transaction.
    let mut one = vec![0u8; BLOCK_SIZE];
    s.read(e.start + 3, &mut one).unwrap();
    s.read(e.start + 7, &mut one).unwrap();
    s.begin().unwrap();
    s.write(e.start + 10, &vec![99u8; BLOCK_SIZE]).unwrap();

    let before = s.stats();
    let mut all = vec![0u8; 12 * BLOCK_SIZE];
    s.read(e.start, &mut all).unwrap();
    let after = s.stats();
    for (i, block) in all.chunks_exact(BLOCK_SIZE).enumerate() {
        let want = if i == 10 { 99 } else { i as u8 + 1 };
        assert!(block.iter().all(|&b| b == want), "block {i}");
    }
    // Misses 0..3, 4..7, 8..10, 11: four requests for nine blocks.
    assert_eq!(after.device_reads - before.device_reads, 4);
    assert_eq!(after.blocks_read - before.blocks_read, 9);
    assert_eq!(after.cache_hits - before.cache_hits, 2);
    s.abort();
}
