//! The cache stays within its bound under a workload much larger than it,
//! and its hit, miss and eviction counters count.

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

#[test]
fn cache_stays_bounded_and_counts() {
    let config = Config {
        cache_blocks: 32,
        // A one-image transaction takes 6 journal blocks (copies, parity).
        journal_blocks: 128,
        group_commit_blocks: 16,
    };
    let mut s = BlockStore::format(MemDevice::new(1000), config).unwrap();
    s.begin().unwrap();
    let e = s.allocate(400).unwrap();
    s.commit(Durability::Durable).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    for round in 0..3u8 {
        for b in e.start..e.end() {
            s.begin().unwrap();
            s.write(b, &vec![round; BLOCK_SIZE]).unwrap();
            s.commit(Durability::Batched).unwrap();
            let st = s.stats();
            assert!(st.cache_blocks <= st.cache_capacity, "{st:?}");
        }
    }
    for _ in 0..2 {
        for b in e.start..e.start + 8 {
            s.read(b, &mut buf).unwrap();
            assert_eq!(buf[0], 2);
        }
    }
    let st = s.stats();
    assert!(st.cache_hits >= 8, "{st:?}");
    assert!(st.cache_misses > 0 && st.cache_evictions > 0, "{st:?}");
    assert!(st.checkpoints > 0 && st.commits_batched == 1200, "{st:?}");
    let text = st.to_string();
    assert!(
        text.contains("1200 batched commits") && text.contains("evictions"),
        "{text}"
    );
    // Group commit: far fewer flushes than commits (checkpoints flush 3 times).
    assert!(st.device_flushes < 300, "{st:?}");
}
