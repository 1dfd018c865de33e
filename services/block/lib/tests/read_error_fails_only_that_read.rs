//! A read error on one block fails the reads of that block only: other
//! blocks stay readable, the store stays writable, fsck runs, and once the
//! fault clears the block reads back intact. (Before, one failed read
//! stopped the whole store until remount.)

mod faults;

use block::{DeviceError, Durability, Error, Transactional, BLOCK_SIZE};
use faults::{first_byte, store_with_three_blocks, CODE};

#[test]
fn read_error_fails_only_that_read() {
    let (mut s, [a, b, c]) = store_with_three_blocks();
    s.device_mut_unchecked().bad_reads.insert(b);

    let err = first_byte(&mut s, b).unwrap_err();
    assert_eq!(
        err,
        Error::Device(DeviceError::Io {
            first: b,
            code: CODE
        })
    );
    assert!(err.to_string().contains(&format!("block {b}")), "{err}");
    // A read spanning the bad block fails too, naming it.
    let mut three = vec![0u8; 3 * BLOCK_SIZE];
    assert_eq!(
        s.read(a, &mut three),
        Err(Error::Device(DeviceError::Io {
            first: b,
            code: CODE
        }))
    );

    // Everything else keeps working: reads, a new transaction, fsck.
    assert_eq!(first_byte(&mut s, a), Ok(1));
    assert_eq!(first_byte(&mut s, c), Ok(3));
    assert_eq!(s.read_only(), None);
    s.begin().unwrap();
    s.write(a, &[9u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    assert_eq!(first_byte(&mut s, a), Ok(9));
    assert!(s.check().unwrap().is_clean());
    assert!(s.stats().to_string().contains("state: read-write"));

    // The fault clears: the block reads back as committed.
    s.device_mut_unchecked().bad_reads.clear();
    assert_eq!(first_byte(&mut s, b), Ok(2));
    s.read(a, &mut three).unwrap();
    assert_eq!(
        (three[0], three[BLOCK_SIZE], three[2 * BLOCK_SIZE]),
        (9, 2, 3)
    );
}
