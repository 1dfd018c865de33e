//! A failed flush turns the store read-only like a failed write: the
//! commit that needed it and every later change get `ReadOnly`, reads of
//! committed data work, and the next mount is consistent.

mod faults;

use block::{BlockStore, Durability, Error, FaultOp, Transactional, BLOCK_SIZE};
use faults::{config, first_byte, store_with_three_blocks, CODE};

#[test]
fn flush_error_makes_store_read_only() {
    let (mut s, [a, b, _]) = store_with_three_blocks();
    s.device_mut_unchecked().fail_flushes = true;
    s.begin().unwrap();
    s.write(a, &[6u8; BLOCK_SIZE]).unwrap();
    let err = s.commit(Durability::Durable).unwrap_err();
    assert_eq!(
        err,
        Error::ReadOnly(block::WriteFault {
            op: FaultOp::Flush,
            block: 0,
            code: CODE
        })
    );
    assert_eq!(
        err.to_string(),
        "the disk failed a flush; the store is read-only until the next boot"
    );
    s.abort();
    s.device_mut_unchecked().fail_flushes = false;
    assert!(matches!(s.begin(), Err(Error::ReadOnly(_))));
    assert_eq!(first_byte(&mut s, b), Ok(2));
    assert!(s.stats().to_string().contains("the disk failed a flush"));

    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert!(matches!(first_byte(&mut s, a), Ok(1 | 6)));
    assert!(s.check().unwrap().is_clean());
}
