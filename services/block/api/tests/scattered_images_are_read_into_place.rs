//! A transaction's journaled writes through `BlockClient` reach the service
//! as one scattered commit, and the service reads each image from the
//! lease straight into the buffer the transaction keeps it in (one copy of
//! every journaled byte per process: none of the service's own, issue
//! #13). The gathered fresh block that rides along is read straight into
//! the fresh buffer. Then the journal's records and their flush go to the
//! device in one request on a device that has one. Deterministic counts.

mod common;

use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::report;

#[test]
fn scattered_images_are_read_into_place() {
    let server = common::service(4000);
    let mut c = common::client(&server, 1);
    let blocks = 12u64;
    // Allocated in one transaction, rewritten in the next (as tree nodes
    // are): the second commit's images replace cached ones.
    c.begin().unwrap();
    let e = c.allocate(blocks).unwrap();
    let fresh = c.allocate(1).unwrap();
    for b in e.start..e.end() {
        c.write(b, &[1u8; BLOCK_SIZE]).unwrap();
    }
    c.commit(Durability::Durable).unwrap();
    let text = |c: &mut block_api::BlockClient<_>| {
        let mut t = vec![0u8; 8192];
        let n = c.report(report::STATS, &mut t).unwrap();
        String::from_utf8_lossy(&t[..n]).into_owned()
    };
    let before = text(&mut c);

    c.begin().unwrap();
    for b in e.start..e.end() {
        let image: Vec<u8> = (0..BLOCK_SIZE)
            .map(|i| (b as usize + i / 7) as u8)
            .collect();
        c.write(b, &image).unwrap();
    }
    c.write_fresh(fresh.start, &[5u8; BLOCK_SIZE]).unwrap();
    c.commit(Durability::Durable).unwrap();
    let after = text(&mut c);
    let grown = |key: &str| common::counter(&after, key) - common::counter(&before, key);

    let images = blocks * BLOCK_SIZE as u64;
    assert_eq!(grown("journal_copied"), 0, "{after}");
    // The journaled images and the folded fresh block.
    assert_eq!(
        grown("journal_filled"),
        images + BLOCK_SIZE as u64,
        "{after}"
    );
    assert_eq!(grown("lease_in"), images + BLOCK_SIZE as u64, "{after}");
    assert_eq!(grown("fresh_copied"), 0, "{after}");
    // begin_delegated or begin, the scattered commit, the report.
    assert!(grown("calls") <= 3, "{after}");

    for b in e.start..e.end() {
        let mut back = vec![0u8; BLOCK_SIZE];
        c.read(b, &mut back).unwrap();
        assert!(back
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (b as usize + i / 7) as u8));
    }
    let mut back = vec![0u8; BLOCK_SIZE];
    c.read(fresh.start, &mut back).unwrap();
    assert!(back.iter().all(|&x| x == 5));
}
