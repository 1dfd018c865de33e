//! Guards journal case 7: a transaction written after a torn one before a
//! power cut must never be replayed later, even when a new transaction of
//! the same length lands exactly where the torn one was (the mount epoch
//! makes the old records stale).

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};

fn config() -> Config {
    Config {
        cache_blocks: 32,
        journal_blocks: 32,
        // Every batched commit is written at once (the group bound), as a
        // transaction of its own: A and B below are two transactions in
        // one unflushed batch, not one compound.
        group_commit_blocks: 1,
    }
}

fn write_root<D: block::BlockDevice>(s: &mut BlockStore<D>, slot: usize, v: u8, d: Durability) {
    s.begin().unwrap();
    let r = s.root_block(slot);
    s.write(r, &vec![v; BLOCK_SIZE]).unwrap();
    s.commit(d).unwrap();
}

fn root<D: block::BlockDevice>(s: &mut BlockStore<D>, slot: usize) -> u8 {
    let mut b = vec![0u8; BLOCK_SIZE];
    let r = s.root_block(slot);
    s.read(r, &mut b).unwrap();
    b[0]
}

#[test]
fn records_after_a_torn_transaction_stay_dead() {
    let s = BlockStore::format(MemDevice::new(128), config()).unwrap();
    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    let journal = s.geometry().journal;
    // One image each: [D D' image parity C C'], 6 journal blocks.
    write_root(&mut s, 0, 1, Durability::Durable); // X: journal offsets 0..6
    write_root(&mut s, 0, 2, Durability::Batched); // A: offsets 6..12
    write_root(&mut s, 1, 3, Durability::Batched); // B: offsets 12..18
    s.sync().unwrap();
    let mut dev = s.into_device();
    // Tear both copies of A's commit block (offsets 10, 11) as a power cut
    // could have (one torn copy would be repaired from the other).
    for offset in [10usize, 11] {
        let at = (journal.start as usize + offset) * BLOCK_SIZE + 100;
        dev.image_mut()[at] ^= 0xFF;
    }

    let mut s = BlockStore::mount(dev, config()).unwrap();
    assert_eq!(
        (root(&mut s, 0), root(&mut s, 1)),
        (1, 0),
        "A is torn, so B must not be visible"
    );
    write_root(&mut s, 0, 4, Durability::Durable); // C: same length as A, same place
    let dev = s.into_device();

    let mut s = BlockStore::mount(dev, config()).unwrap();
    assert_eq!(root(&mut s, 0), 4);
    assert_eq!(root(&mut s, 1), 0, "B's stale records were replayed");
    assert!(s.check().unwrap().is_clean());
}
