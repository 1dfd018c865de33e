//! Without snapshots every node is changed in place and every node a merge
//! or root collapse abandons is freed: the allocated blocks are exactly the
//! tree's nodes, at every step of a grow-then-shrink workload. With a
//! snapshot, abandoned shared nodes stay allocated for GC, and the union of
//! both trees' nodes is exactly what is allocated.

mod common;

use std::collections::BTreeSet;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

fn allocated<T: Transactional>(tx: &mut T, baseline: &BTreeSet<u64>) -> BTreeSet<u64> {
    (0..tx.block_count())
        .filter(|&b| tx.is_allocated(b).unwrap() && !baseline.contains(&b))
        .collect()
}

fn nodes<T: Transactional>(tx: &mut T, roots: &[TreeRoot]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for r in roots {
        cowbtree::visit_node_blocks(tx, r, |b| {
            out.insert(b);
        })
        .unwrap();
    }
    out
}

fn key(i: u32) -> Vec<u8> {
    // Spread keys so inserts land all over the tree; long enough for height 3.
    format!("{:08x}-{}", i.wrapping_mul(2654435761), "p".repeat(60)).into_bytes()
}

#[test]
fn allocated_blocks_are_exactly_the_nodes() {
    let mut tx = common::new_store(8192);
    let baseline: BTreeSet<u64> = allocated(&mut tx, &BTreeSet::new());
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    for i in 0..3000u32 {
        cowbtree::insert(&mut tx, &mut root, &key(i), &[i as u8; 40]).unwrap();
        if i % 200 == 0 {
            tx.commit(Durability::Batched).unwrap();
            tx.begin().unwrap();
            assert_eq!(
                allocated(&mut tx, &baseline),
                nodes(&mut tx, &[root]),
                "after insert {i}"
            );
        }
    }
    assert!(
        root.height >= 3,
        "workload too small: height {}",
        root.height
    );
    for i in 0..3000u32 {
        assert!(cowbtree::remove(&mut tx, &mut root, &key(i))
            .unwrap()
            .is_some());
        if i % 200 == 0 {
            tx.commit(Durability::Batched).unwrap();
            tx.begin().unwrap();
            assert_eq!(
                allocated(&mut tx, &baseline),
                nodes(&mut tx, &[root]),
                "after remove {i}"
            );
        }
    }
    tx.commit(Durability::Durable).unwrap();
    assert_eq!(root.height, 1);
    assert_eq!(root.entries, 0);
    assert_eq!(allocated(&mut tx, &baseline).len(), 1);
}

#[test]
fn with_a_snapshot_shared_nodes_are_kept_not_leaked() {
    let mut tx = common::new_store(8192);
    let baseline: BTreeSet<u64> = allocated(&mut tx, &BTreeSet::new());
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    for i in 0..1500u32 {
        cowbtree::insert(&mut tx, &mut root, &key(i), b"v").unwrap();
    }
    let snap = cowbtree::snapshot(&mut root).unwrap();
    let before = nodes(&mut tx, &[snap]);
    for i in 0..1500u32 {
        if i % 3 == 0 {
            cowbtree::remove(&mut tx, &mut root, &key(i)).unwrap();
        } else {
            cowbtree::insert(&mut tx, &mut root, &key(i), b"changed").unwrap();
        }
    }
    tx.commit(Durability::Durable).unwrap();
    // The snapshot's nodes are untouched and still allocated.
    assert_eq!(nodes(&mut tx, &[snap]), before);
    assert!(cowbtree::check(&mut tx, &snap).is_clean());
    // Nothing else is allocated but the two trees' nodes: copies of nodes
    // the live tree alone owned were rewritten in place or freed.
    assert_eq!(allocated(&mut tx, &baseline), nodes(&mut tx, &[root, snap]));
}
