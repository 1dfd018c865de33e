//! Diff between a snapshot and the live tree after a single change reads
//! only the path to the change on each side, not the whole tree.

mod common;

use block::Transactional;
use cowbtree::DiffEntry;

#[test]
fn one_change_in_a_big_tree_reads_one_path() {
    let mut tx = common::new_store(8192);
    tx.begin().unwrap();
    let mut root = cowbtree::create(&mut tx).unwrap();
    for i in 0..20_000u32 {
        cowbtree::insert(
            &mut tx,
            &mut root,
            format!("key{i:06}").as_bytes(),
            &[7u8; 20],
        )
        .unwrap();
    }
    let mut all = 0u64;
    cowbtree::visit_node_blocks(&mut tx, &root, |_| all += 1).unwrap();
    let snap = cowbtree::snapshot(&mut root).unwrap();
    cowbtree::insert(&mut tx, &mut root, b"key012345", b"new").unwrap();
    let mut got = Vec::new();
    let stats = cowbtree::diff(&mut tx, &snap, &root, |d| got.push(d)).unwrap();
    assert_eq!(
        got,
        vec![DiffEntry {
            key: b"key012345".to_vec(),
            old: Some(vec![7u8; 20]),
            new: Some(b"new".to_vec())
        }]
    );
    // At most a root-to-leaf path per side plus the siblings a lower bound
    // cannot rule out: a small constant, far below the tree's size.
    let limit = 4 * u64::from(root.height);
    assert!(
        stats.nodes_read <= limit,
        "diff read {} nodes (tree has {all}, limit {limit})",
        stats.nodes_read
    );
    // Identical roots: nothing read at all.
    let same = cowbtree::diff(&mut tx, &root, &root, |_| panic!("no difference expected")).unwrap();
    assert_eq!(same.nodes_read, 0);
}
