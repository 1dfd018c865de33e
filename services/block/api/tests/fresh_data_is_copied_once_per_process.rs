//! A transaction's chunk-sized `write_fresh` calls through `BlockClient`
//! to the service: the client gathers them into 1 MiB runs (one call each,
//! one copy into its gather buffer), the service reads each run's lease
//! straight into the store's fresh buffer (no copy of its own), and the
//! counters both sides report say so. Deterministic counts, no times.

mod common;

use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::client::FRESH_GATHER;
use block_api::report;

#[test]
fn fresh_data_is_copied_once_per_process() {
    let server = common::service(4000);
    let mut c = common::client(&server, 1);
    c.begin().unwrap();
    // 40 chunks of 64 KiB in consecutive extents: 2.5 MiB.
    let chunk_blocks = 16usize;
    let chunks = 40usize;
    let mut written = Vec::new();
    for i in 0..chunks {
        let e = c.allocate(chunk_blocks as u64).unwrap();
        let data: Vec<u8> = (0..chunk_blocks * BLOCK_SIZE)
            .map(|j| (i * 31 + j / 5) as u8)
            .collect();
        c.write_fresh(e.start, &data).unwrap();
        written.push((e.start, data));
    }
    let root = c.root_block(0);
    c.write(root, &[9u8; BLOCK_SIZE]).unwrap();
    c.commit(Durability::Durable).unwrap();
    for (start, data) in &written {
        let mut back = vec![0u8; data.len()];
        c.read(*start, &mut back).unwrap();
        assert!(&back == data, "chunk at block {start} reads back");
    }

    let bytes = (chunks * chunk_blocks * BLOCK_SIZE) as u64;
    let k = c.counters();
    // 16 chunks fill a gather run: 3 calls for 40 chunks.
    let runs = bytes.div_ceil(FRESH_GATHER as u64);
    assert_eq!(k.write_fresh, runs, "{k:?}");
    assert_eq!(k.allocate, chunks as u64, "{k:?}");
    assert_eq!(k.gathered_bytes, bytes, "one copy in the client: {k:?}");

    let mut text = vec![0u8; 8192];
    let n = c.report(report::STATS, &mut text).unwrap();
    let text = String::from_utf8_lossy(&text[..n]).into_owned();
    // The service read every fresh byte from the lease once, straight into
    // the fresh buffer: none copied again.
    assert_eq!(common::counter(&text, "fresh_copied"), 0, "{text}");
    assert_eq!(
        common::counter(&text, "lease_in"),
        bytes + BLOCK_SIZE as u64,
        "{text}"
    );
    assert!(text.contains(&format!("{bytes} filled in place")), "{text}");
    // Calls the service received: info, begin, the allocations, the runs,
    // the commit carrying the one journaled write, the reads, this report.
    let calls = 1 + 1 + chunks as u64 + runs + 1 + chunks as u64 + 1;
    assert_eq!(common::counter(&text, "calls"), calls, "{text}");
}
