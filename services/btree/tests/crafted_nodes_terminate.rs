//! Crafted nodes with valid checksums cannot make the tree loop, recurse
//! without bound or panic: a branch whose child is itself, a branch at the
//! maximum level, and a root claiming an impossible height are errors from
//! every operation (get, insert, range, diff, visit, check).

mod common;

use std::ops::Bound;

use block::{Durability, Transactional};
use cowbtree::node::{BranchEntry, Entries, Node, MAX_LEVEL};
use cowbtree::{TreeError, TreeRoot};

fn all_operations_fail<T: Transactional>(tx: &mut T, root: &TreeRoot) {
    let mut r = *root;
    assert!(cowbtree::get(tx, root, b"k").is_err());
    assert!(cowbtree::insert(tx, &mut r, b"k", b"v").is_err());
    assert!(cowbtree::remove(tx, &mut r, b"k").is_err());
    let scanned: Vec<_> = match cowbtree::range(tx, root, Bound::Unbounded, Bound::Unbounded) {
        Ok(c) => c.collect(),
        Err(e) => vec![Err(e)],
    };
    assert!(scanned.iter().any(|x| x.is_err()));
    assert!(cowbtree::visit_node_blocks(tx, root, |_| {}).is_err());
    assert!(!cowbtree::check(tx, root).is_clean());
    let other = cowbtree::create(tx).unwrap();
    assert!(cowbtree::diff(tx, root, &other, |_| {}).is_err());
}

#[test]
fn self_referencing_branch_is_an_error() {
    let mut tx = common::new_store(2048);
    tx.begin().unwrap();
    let b = tx.allocate(1).unwrap().start;
    let node = Node {
        generation: 1,
        level: 1,
        entries: Entries::Branch(vec![BranchEntry {
            key: vec![],
            child: b,
        }]),
    };
    tx.write(b, &node.encode(b)).unwrap();
    let root = TreeRoot {
        block: b,
        height: 2,
        generation: 1,
        snapshot_generation: 0,
        entries: 0,
    };
    all_operations_fail(&mut tx, &root);
    assert!(matches!(
        cowbtree::get(&mut tx, &root, b"k"),
        Err(TreeError::WrongLevel { block, expected: 0, found: 1 }) if block == b
    ));
    tx.commit(Durability::Durable).unwrap();
}

#[test]
fn deepest_chain_ends_in_an_error_not_a_stack_overflow() {
    let mut tx = common::new_store(2048);
    tx.begin().unwrap();
    // A chain of single-child branches from MAX_LEVEL down to level 1,
    // whose last child is a block of zeros (not a node).
    let blocks: Vec<u64> = (0..=MAX_LEVEL)
        .map(|_| tx.allocate(1).unwrap().start)
        .collect();
    for level in 1..=MAX_LEVEL {
        let at = blocks[level as usize];
        let child = blocks[level as usize - 1];
        let node = Node {
            generation: 1,
            level,
            entries: Entries::Branch(vec![BranchEntry { key: vec![], child }]),
        };
        tx.write(at, &node.encode(at)).unwrap();
    }
    tx.write(blocks[0], &[0u8; 4096]).unwrap();
    let root = TreeRoot {
        block: blocks[MAX_LEVEL as usize],
        height: MAX_LEVEL + 1,
        generation: 1,
        snapshot_generation: 0,
        entries: 0,
    };
    all_operations_fail(&mut tx, &root);
    let report = cowbtree::check(&mut tx, &root);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("block {}", blocks[0]))),
        "{:?}",
        report.problems
    );
    // A root claiming one level more than the maximum does not decode.
    let too_high = TreeRoot {
        height: MAX_LEVEL + 2,
        ..root
    };
    assert_eq!(
        TreeRoot::decode(&too_high.encode()),
        Err(cowbtree::RootDecodeError::BadHeight {
            height: MAX_LEVEL + 2
        })
    );
    tx.commit(Durability::Durable).unwrap();
}
