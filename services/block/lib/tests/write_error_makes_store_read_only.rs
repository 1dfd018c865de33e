//! A failed write turns the store read-only: the failing call and every
//! later change get the plain `ReadOnly` sentence naming the block, reads
//! of committed data keep working, stats and fsck say so, and the next
//! mount finds every Durable commit. (Before, every later call, reads too,
//! failed with `Failed`.)

mod faults;

use block::{BlockStore, Durability, Error, FaultOp, Transactional, BLOCK_SIZE};
use faults::{config, first_byte, store_with_three_blocks, CODE};

#[test]
fn write_error_makes_store_read_only() {
    let (mut s, [a, b, c]) = store_with_three_blocks();
    s.begin().unwrap();
    s.write(a, &[7u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    s.device_mut_unchecked().fail_writes = true;
    s.begin().unwrap();
    s.write(b, &[8u8; BLOCK_SIZE]).unwrap();
    let err = s.commit(Durability::Durable).unwrap_err();
    let Error::ReadOnly(fault) = err else {
        panic!("expected ReadOnly, got {err:?}");
    };
    assert_eq!((fault.op, fault.code), (FaultOp::Write, CODE));
    let journal = s.geometry().journal;
    assert!(
        journal.contains(fault.block),
        "{fault:?} not in the journal"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the disk failed a write at block {}; the store is read-only until the next boot",
            fault.block
        )
    );
    s.abort();

    // The fault clears, but the store stays read-only until remounted.
    s.device_mut_unchecked().fail_writes = false;
    for refused in [s.begin(), s.sync(), s.checkpoint()] {
        assert_eq!(refused, Err(Error::ReadOnly(fault)));
    }
    // Reads of committed data work (from cache and disk).
    assert_eq!(first_byte(&mut s, a), Ok(7));
    assert_eq!(first_byte(&mut s, c), Ok(3));
    assert_eq!(s.stats().read_only, Some(fault));
    let stats = s.stats().to_string();
    assert!(stats.contains("state: read-only"), "{stats}");
    let report = s.check().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(
        report.notes.iter().any(|n| n.contains("read-only")),
        "{report}"
    );
    assert!(s.events().any(|e| e.contains("read-only")));

    // Next boot: the Durable commit of `a` is there, the failed one is not
    // required to be, and the store is writable again.
    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert_eq!(first_byte(&mut s, a), Ok(7));
    assert!(matches!(first_byte(&mut s, b), Ok(2 | 8)));
    s.begin().unwrap();
    s.write(c, &[5u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    assert!(s.check().unwrap().is_clean());
}
