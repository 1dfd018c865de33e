//! A disk that fails writes (or flushes) while mount recovers the journal:
//! mount succeeds read-only instead of refusing (the crash harness's
//! `poisoned` cases "write once anywhere" and "flush once", where every
//! later command failed with "the filesystem is not mounted"). The
//! replayed transactions are served from memory, a journaled allocation
//! included, and the next mount on a healthy disk replays them for good.

mod faults;

use block::{BlockStore, Durability, Error, Transactional, BLOCK_SIZE};
use faults::{config, first_byte, store_with_three_blocks};

#[test]
fn write_error_at_mount_mounts_read_only() {
    for flush in [false, true] {
        let (mut s, [a, _, c]) = store_with_three_blocks();
        s.begin().unwrap();
        s.write(a, &[7u8; BLOCK_SIZE]).unwrap();
        let fresh = s.allocate(1).unwrap().start;
        s.write(fresh, &[9u8; BLOCK_SIZE]).unwrap();
        s.commit(Durability::Durable).unwrap();
        // Power cut: the commit is only in the journal.
        let mut dev = s.into_device();
        if flush {
            dev.fail_flushes = true;
        } else {
            dev.fail_writes = true;
        }
        let mut s = BlockStore::mount(dev, config()).unwrap();
        let fault = s.stats().read_only.expect("mounted read-only");
        assert!(
            s.events()
                .any(|e| e.contains("while recovering: the store is read-only")),
            "{:?}",
            s.events().collect::<Vec<_>>()
        );
        // Committed data reads, the replayed transaction's too.
        assert_eq!(first_byte(&mut s, a), Ok(7));
        assert_eq!(first_byte(&mut s, fresh), Ok(9));
        assert_eq!(first_byte(&mut s, c), Ok(3));
        assert_eq!(s.is_allocated(fresh), Ok(true));
        assert_eq!(s.begin(), Err(Error::ReadOnly(fault)));

        // Next boot on a healthy disk: replayed again, writable.
        let mut dev = s.into_device();
        dev.fail_writes = false;
        dev.fail_flushes = false;
        let mut s = BlockStore::mount(dev, config()).unwrap();
        assert_eq!(s.stats().read_only, None);
        assert_eq!(first_byte(&mut s, a), Ok(7));
        assert_eq!(first_byte(&mut s, fresh), Ok(9));
        s.begin().unwrap();
        s.write(c, &[5u8; BLOCK_SIZE]).unwrap();
        s.commit(Durability::Durable).unwrap();
        assert!(s.check().unwrap().is_clean());
    }
}
