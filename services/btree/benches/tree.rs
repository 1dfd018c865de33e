//! B+tree figures on the host over the block layer's in-memory device:
//! random inserts and lookups per second, a full scan, snapshot cost and a
//! diff after a few changes. Prints `name: value unit` lines.

use std::ops::Bound;
use std::time::Instant;

use block::{BlockStore, Config, Durability, MemDevice, Transactional};

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn main() {
    let config = Config {
        cache_blocks: 8192,
        journal_blocks: 8192,
        group_commit_blocks: 1024,
    };
    let mut tx = BlockStore::format(MemDevice::new(65536), config).unwrap();
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    tx.commit(Durability::Durable).unwrap();

    let n = 200_000u64;
    let t = Instant::now();
    for batch in 0..n / 1000 {
        tx.begin().unwrap();
        for i in batch * 1000..(batch + 1) * 1000 {
            cowbtree::insert(&mut tx, &mut root, &key(i), &[7u8; 32]).unwrap();
        }
        tx.commit(Durability::Batched).unwrap();
    }
    tx.sync().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("btree_insert: {:.0} ops/s", n as f64 / secs);
    println!("btree_height: {} levels", root.height);

    let t = Instant::now();
    for i in (0..n).step_by(3) {
        assert!(cowbtree::get(&mut tx, &root, &key(i)).unwrap().is_some());
    }
    println!(
        "btree_get: {:.0} ops/s",
        (n / 3) as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let count = cowbtree::range(&mut tx, &root, Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .count();
    assert_eq!(count as u64, n);
    println!(
        "btree_scan: {:.0} pairs/s",
        n as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let snap = cowbtree::snapshot(&mut root).unwrap();
    println!("btree_snapshot: {:.3} us", t.elapsed().as_secs_f64() * 1e6);

    tx.begin().unwrap();
    for i in 0..10 {
        cowbtree::insert(&mut tx, &mut root, &key(i * 1000), b"changed").unwrap();
    }
    tx.commit(Durability::Durable).unwrap();
    let t = Instant::now();
    let mut changes = 0;
    let stats = cowbtree::diff(&mut tx, &snap, &root, |_| changes += 1).unwrap();
    assert_eq!(changes, 10);
    println!(
        "btree_diff_10_changes: {:.0} us",
        t.elapsed().as_secs_f64() * 1e6
    );
    println!("btree_diff_nodes_read: {} nodes", stats.nodes_read);
}
