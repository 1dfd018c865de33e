//! Transactions end to end over a MemDevice: commit, abort, read-your-writes,
//! remount, allocation rules.

use block::{
    BlockStore, Config, Durability, Error, Extent, MemDevice, Transactional, BLOCK_SIZE, ROOT_SLOTS,
};

fn small_config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 64,
        group_commit_blocks: 16,
    }
}

fn block_of(v: u8) -> Vec<u8> {
    vec![v; BLOCK_SIZE]
}

fn read1<T: Transactional>(s: &mut T, b: u64) -> Vec<u8> {
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(b, &mut buf).unwrap();
    buf
}

#[test]
fn commit_abort_and_remount() {
    let mut s = BlockStore::format(MemDevice::new(512), small_config()).unwrap();
    let root = s.root_block(0);
    assert_eq!(read1(&mut s, root), block_of(0));
    s.begin().unwrap();
    let e = s.allocate(3).unwrap();
    s.write(root, &block_of(1)).unwrap();
    s.write(e.start, &block_of(2)).unwrap();
    s.write_fresh(e.start + 1, &[block_of(3), block_of(4)].concat())
        .unwrap();
    // Read your own writes inside the transaction.
    assert_eq!(read1(&mut s, root), block_of(1));
    s.commit(Durability::Durable).unwrap();

    s.begin().unwrap();
    s.write(root, &block_of(9)).unwrap();
    let lost = s.allocate(1).unwrap();
    s.abort();
    assert_eq!(read1(&mut s, root), block_of(1));
    assert!(!s.is_allocated(lost.start).unwrap());

    let dev = s.into_device(); // power cut: nothing flushed beyond the commit
    let mut s = BlockStore::mount(dev, small_config()).unwrap();
    assert_eq!(read1(&mut s, root), block_of(1));
    for (i, v) in [2u8, 3, 4].into_iter().enumerate() {
        assert_eq!(read1(&mut s, e.start + i as u64), block_of(v));
        assert!(s.is_allocated(e.start + i as u64).unwrap());
    }
    assert!(s.check().unwrap().is_clean());
}

#[test]
fn many_transactions_wrap_the_journal_and_checkpoint() {
    let mut s = BlockStore::format(MemDevice::new(600), small_config()).unwrap();
    let mut blocks = Vec::new();
    for i in 0..200u32 {
        s.begin().unwrap();
        let e = s.allocate(2).unwrap();
        s.write(e.start, &block_of(i as u8)).unwrap();
        s.write(s.root_block(1), &block_of(i as u8)).unwrap();
        if let Some(old) = blocks.pop() {
            if i % 3 == 0 {
                s.free(Extent::new(old, 2)).unwrap();
            } else {
                blocks.push(old);
            }
        }
        blocks.push(e.start);
        s.commit(if i % 2 == 0 {
            Durability::Batched
        } else {
            Durability::Durable
        })
        .unwrap();
    }
    assert!(s.stats().checkpoints > 0);
    let dev = s.into_device();
    let mut s = BlockStore::mount(dev, small_config()).unwrap();
    let root = s.root_block(1);
    assert_eq!(read1(&mut s, root), block_of(199));
    let last = *blocks.last().unwrap();
    assert_eq!(read1(&mut s, last), block_of(199));
    assert!(s.check().unwrap().is_clean());
}

#[test]
fn rules_are_enforced_with_clear_errors() {
    let mut s = BlockStore::format(MemDevice::new(512), small_config()).unwrap();
    let g = s.geometry();
    assert_eq!(
        s.write(g.data_start, &block_of(1)),
        Err(Error::NoTransaction)
    );
    s.begin().unwrap();
    assert_eq!(s.begin(), Err(Error::TransactionOpen));
    assert_eq!(s.write(0, &block_of(1)), Err(Error::Reserved { block: 0 }));
    assert_eq!(
        s.write(g.data_start, &block_of(1)),
        Err(Error::NotAllocated {
            block: g.data_start
        })
    );
    let e = s.allocate(1).unwrap();
    assert_eq!(
        s.write(e.start, &[0u8; 100]),
        Err(Error::BadLength { len: 100 })
    );
    s.commit(Durability::Durable).unwrap();
    s.begin().unwrap();
    assert_eq!(
        s.write_fresh(e.start, &block_of(1)),
        Err(Error::NotFresh { block: e.start })
    );
    assert_eq!(
        s.free(Extent::new(e.start + 1, 1)),
        Err(Error::NotAllocated { block: e.start + 1 })
    );
    s.free(e).unwrap();
    // A block freed in an uncommitted or not yet checkpointed transaction is not handed out again.
    let again = s.allocate(1).unwrap();
    assert_ne!(again.start, e.start);
    assert_eq!(s.allocate(10_000), Err(Error::NoSpace));
    s.commit(Durability::Durable).unwrap();
    assert_eq!(s.root_block(ROOT_SLOTS - 1), g.roots.end() - 1);
    assert!(matches!(
        s.read(511, &mut vec![0u8; 2 * BLOCK_SIZE]),
        Err(Error::OutOfRange { .. })
    ));
}

#[test]
fn blank_device_is_not_formatted() {
    assert!(matches!(
        BlockStore::mount(MemDevice::new(512), small_config()),
        Err(Error::NotFormatted)
    ));
    assert!(matches!(
        BlockStore::format(MemDevice::new(20), small_config()),
        Err(Error::DeviceTooSmall { .. })
    ));
}
