//! Beyond the one-block redundancy: a durable transaction in the middle of
//! the log damaged in both copies of its descriptor is never taken for the
//! end of the log. A later commit vouches that it was durable, so mount
//! refuses with `JournalGap` (rather than roll back acknowledged work) and
//! the offline check reports it. The same damage in the last transactions,
//! written in one unflushed batch, is a torn tail: mount replays the prefix.

use block::{
    check_device, BlockStore, Config, Corruption, Durability, Error, FindingKind, MemDevice,
    Transactional, BLOCK_SIZE,
};

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 64,
        group_commit_blocks: 64,
    }
}

fn write_root(s: &mut BlockStore<MemDevice>, slot: usize, v: u8, d: Durability) {
    s.begin().unwrap();
    let r = s.root_block(slot);
    s.write(r, &[v; BLOCK_SIZE]).unwrap();
    s.commit(d).unwrap();
}

/// Flips a byte in both descriptor copies of the transaction at `offset`.
fn damage_descriptor_pair(dev: &mut MemDevice, journal_start: u64, offset: u64) {
    for b in [offset, offset + 1] {
        dev.image_mut()[(journal_start + b) as usize * BLOCK_SIZE + 40] ^= 0x01;
    }
}

#[test]
fn durable_transaction_beyond_repair_is_refused_not_rolled_back() {
    let mut s = BlockStore::format(MemDevice::new(128), config()).unwrap();
    let journal = s.geometry().journal;
    // One image each: 6 journal blocks per transaction, from offset 0.
    for v in 1..=3u8 {
        write_root(&mut s, 0, v, Durability::Durable);
    }
    let mut dev = s.into_device();
    damage_descriptor_pair(&mut dev, journal.start, 6); // transaction 2 of 3

    let offline = check_device(&mut dev).unwrap();
    assert!(
        offline
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::Journal && f.message.contains("beyond repair")),
        "{offline}"
    );
    match BlockStore::mount(dev, config()) {
        Err(
            e @ Error::Corrupt {
                detail: Corruption::JournalGap { .. },
                block,
            },
        ) => {
            assert_eq!(block, journal.start + 6);
            assert!(e.to_string().contains("refusing to mount"), "{e}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("mounted and rolled back an acknowledged transaction"),
    }
}

#[test]
fn torn_tail_of_one_unflushed_batch_is_the_end_of_the_log() {
    let mut s = BlockStore::format(MemDevice::new(128), config()).unwrap();
    let journal = s.geometry().journal;
    write_root(&mut s, 0, 1, Durability::Durable); // offsets 0..6
    write_root(&mut s, 0, 2, Durability::Batched); // 6..12, same batch as:
    write_root(&mut s, 1, 3, Durability::Batched); // 12..18
    s.sync().unwrap(); // one write of both, then one flush
    let mut dev = s.into_device();
    damage_descriptor_pair(&mut dev, journal.start, 6);

    let offline = check_device(&mut dev).unwrap();
    assert!(offline.is_clean(), "{offline}");
    let mut s = BlockStore::mount(dev, config()).unwrap();
    let mut b = vec![0u8; BLOCK_SIZE];
    let r0 = s.root_block(0);
    s.read(r0, &mut b).unwrap();
    assert_eq!(b[0], 1);
    let r1 = s.root_block(1);
    s.read(r1, &mut b).unwrap();
    assert_eq!(b[0], 0, "a transaction after the torn one was replayed");
    assert!(s.check().unwrap().is_clean());
}
