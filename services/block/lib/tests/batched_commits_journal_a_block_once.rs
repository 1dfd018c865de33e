//! Batched commits not yet written join one compound journal transaction
//! (the running compound, `store/compound.rs`, jbd2's running
//! transaction): a block several of them rewrite is journaled once, with
//! its latest image, when the compound is written. Counted exactly
//! (`Stats::journal_images`, `journal_sealed_images`,
//! `journal_transactions`), and the latest images are what a power cut
//! after the closing Durable commit leaves.

use block::{
    sealed_image_crc, BlockStore, Config, Durability, MemDevice, Stats, Transactional, BLOCK_SIZE,
    SEAL_FIELD,
};

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 64,
        group_commit_blocks: 16,
    }
}

fn plain(v: u8) -> Vec<u8> {
    vec![v; BLOCK_SIZE]
}

/// An image sealed for `home` as `write_verified`'s contract says: bytes
/// 4..8 the CRC-32C of `home` (u64 LE) then bytes 8.. (cowbtree's seal).
fn sealed(home: u64, v: u8) -> Vec<u8> {
    let mut image: Vec<u8> = (0..BLOCK_SIZE)
        .map(|i| (i as u8).wrapping_mul(13) ^ v)
        .collect();
    let mut msg = home.to_le_bytes().to_vec();
    msg.extend_from_slice(&image[8..]);
    let seal = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&msg);
    image[SEAL_FIELD..SEAL_FIELD + 4].copy_from_slice(&seal.to_le_bytes());
    let whole = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&image);
    assert_eq!(sealed_image_crc(home, &image), Some(whole));
    image
}

/// A formatted store with `n` data blocks allocated and zeroed durably.
fn store_with(n: u64) -> (BlockStore<MemDevice>, u64) {
    let mut s = BlockStore::format(MemDevice::new(600), config()).unwrap();
    s.begin().unwrap();
    let first = s.allocate(n).unwrap().start;
    s.write(first, &vec![0u8; n as usize * BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    (s, first)
}

fn read(s: &mut BlockStore<MemDevice>, block: u64) -> Vec<u8> {
    let mut buf = plain(0);
    s.read(block, &mut buf).unwrap();
    buf
}

/// `after - before` of the journal and device counters.
fn delta(before: &Stats, after: &Stats) -> [u64; 6] {
    [
        after.journal_images - before.journal_images,
        after.journal_sealed_images - before.journal_sealed_images,
        after.journal_transactions - before.journal_transactions,
        after.device_writes - before.device_writes,
        after.device_flushes - before.device_flushes,
        after.commits_batched - before.commits_batched,
    ]
}

#[test]
fn n_batched_rewrites_then_a_durable_commit_journal_the_block_once() {
    const N: u8 = 10;
    let (mut s, x) = store_with(1);
    let root = s.root_block(0);
    let before = s.stats();
    for i in 1..=N {
        s.begin().unwrap();
        s.write(x, &plain(i)).unwrap();
        s.write(root, &plain(100 + i)).unwrap();
        s.commit(Durability::Batched).unwrap();
        // Visible at once.
        assert_eq!(read(&mut s, x), plain(i));
    }
    // [images, sealed, transactions, writes, flushes, batched commits]
    assert_eq!(
        delta(&before, &s.stats()),
        [0, 0, 0, 0, 0, N as u64],
        "batched commits wait in the compound, encoded and written by nothing"
    );
    s.begin().unwrap();
    s.write(x, &plain(N + 1)).unwrap();
    s.commit(Durability::Durable).unwrap();
    // x and the root block once each (no allocation: no bitmap block), in
    // one transaction written and flushed (a write then a flush: this
    // device has no single durable write).
    assert_eq!(delta(&before, &s.stats()), [2, 0, 1, 1, 1, N as u64]);

    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert_eq!(s.stats().transactions_replayed, 2);
    assert_eq!(read(&mut s, x), plain(N + 1));
    assert_eq!(read(&mut s, root), plain(100 + N));
    assert!(s.check().unwrap().is_clean());
}

#[test]
fn a_seal_follows_the_latest_image_or_is_dropped() {
    let (mut s, first) = store_with(3);
    let (x, y) = (first, first + 1);
    let root = s.root_block(0);
    let before = s.stats();
    // x: sealed, then plain (its seal's CRC must not tag the plain image);
    // root: plain, then sealed; y: sealed once, in the Durable commit.
    s.begin().unwrap();
    s.write_verified(x, &sealed(x, 1)).unwrap();
    s.write(root, &plain(1)).unwrap();
    s.commit(Durability::Batched).unwrap();
    s.begin().unwrap();
    s.write(x, &plain(2)).unwrap();
    s.write_verified(root, &sealed(root, 2)).unwrap();
    s.commit(Durability::Batched).unwrap();
    s.begin().unwrap();
    s.write_verified(y, &sealed(y, 3)).unwrap();
    s.commit(Durability::Durable).unwrap();
    assert_eq!(delta(&before, &s.stats())[..3], [3, 2, 1]);
    // A tag that did not match its image would fail recovery's check of
    // the whole transaction: these are found only if every tag is right.
    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert_eq!(read(&mut s, x), plain(2));
    assert_eq!(read(&mut s, root), sealed(root, 2));
    assert_eq!(read(&mut s, y), sealed(y, 3));
    assert!(s.check().unwrap().is_clean());
}

#[test]
fn an_abort_undoes_the_open_transaction_not_the_compound() {
    let (mut s, first) = store_with(2);
    let (x, y) = (first, first + 1);
    s.begin().unwrap();
    s.write(x, &plain(1)).unwrap();
    s.commit(Durability::Batched).unwrap();
    let before = s.stats();
    s.begin().unwrap();
    s.write(x, &plain(2)).unwrap();
    s.write(y, &plain(2)).unwrap();
    let z = s.allocate(1).unwrap().start;
    s.write(z, &plain(2)).unwrap();
    s.abort();
    assert_eq!(
        delta(&before, &s.stats()),
        [0; 6],
        "an abort writes nothing"
    );
    assert_eq!(read(&mut s, x), plain(1), "the compound's image stays");
    assert_eq!(read(&mut s, y), plain(0));
    assert!(!s.is_allocated(z).unwrap());
    s.begin().unwrap();
    s.write(y, &plain(3)).unwrap();
    s.commit(Durability::Durable).unwrap();
    assert_eq!(delta(&before, &s.stats())[..3], [2, 0, 1]);
    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert_eq!(read(&mut s, x), plain(1));
    assert_eq!(read(&mut s, y), plain(3));
    assert!(!s.is_allocated(z).unwrap());
    assert!(s.check().unwrap().is_clean());
}

#[test]
fn the_group_bound_writes_the_compound_without_a_flush() {
    let (mut s, first) = store_with(12);
    let before = s.stats();
    // A compound of k images takes k + 5 journal blocks; the bound is 16.
    // Ten blocks, each rewritten by two commits: 15 blocks, under it.
    for k in 0..10u8 {
        for v in [1, 2] {
            s.begin().unwrap();
            s.write(first + u64::from(k), &plain(k * 2 + v)).unwrap();
            s.commit(Durability::Batched).unwrap();
        }
    }
    assert_eq!(delta(&before, &s.stats())[..5], [0, 0, 0, 0, 0]);
    // The eleventh block reaches it: written as one transaction, unflushed.
    s.begin().unwrap();
    s.write(first + 10, &plain(99)).unwrap();
    s.commit(Durability::Batched).unwrap();
    let st = s.stats();
    assert_eq!(delta(&before, &st)[..5], [11, 0, 1, 1, 0]);
    // Not durable yet: a sync flushes it and writes nothing more.
    s.sync().unwrap();
    assert_eq!(delta(&st, &s.stats())[2..5], [0, 0, 1]);
    let mut s = BlockStore::mount(s.into_device(), config()).unwrap();
    assert_eq!(read(&mut s, first + 10), plain(99));
    assert_eq!(read(&mut s, first + 3), plain(8));
}
