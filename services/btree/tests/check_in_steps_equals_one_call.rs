//! `TreeCheck` in steps of N nodes reads at most N nodes per step and finds
//! exactly what the one-call `check` finds, on a sound tree and on damaged
//! ones (a flipped byte, a child pointer repeated, a wrong level); a node
//! reached twice is reported once and its subtree is not walked again.
//! Paged from a key on (`from_key`), the pages together hand out every
//! pair once.

mod common;

use block::Transactional;
use cowbtree::node::{Entries, Node};
use cowbtree::{CheckReport, TreeCheck, TreeRoot, Visited};
use testkit::CountingReads;

fn tree(tx: &mut common::Store, n: u32) -> TreeRoot {
    tx.begin().unwrap();
    let mut root = cowbtree::create(tx).unwrap();
    for i in 0..n {
        cowbtree::insert(tx, &mut root, format!("key{i:06}").as_bytes(), &[7u8; 40]).unwrap();
    }
    root
}

/// The stepped check, `n` nodes a step; asserts the bound on reads.
fn stepped(tx: &mut common::Store, root: &TreeRoot, n: usize) -> (CheckReport, usize) {
    let mut walk = TreeCheck::new(root);
    let mut steps = 0;
    loop {
        let mut c = CountingReads::new(&mut *tx);
        let done = walk.step(&mut c, n);
        steps += 1;
        assert!(
            c.blocks <= n as u64,
            "a step of {n} read {} nodes",
            c.blocks
        );
        if done {
            break;
        }
    }
    (walk.finish(), steps)
}

fn same_findings(tx: &mut common::Store, root: &TreeRoot) -> CheckReport {
    let whole = cowbtree::check(tx, root);
    for n in [1, 3, 17] {
        let (report, steps) = stepped(tx, root, n);
        assert_eq!(report, whole, "steps of {n}");
        assert!(steps as u64 >= whole.nodes / n as u64);
    }
    whole
}

#[test]
fn a_sound_tree_checks_clean_in_steps_of_any_size() {
    let mut tx = common::new_store(8192);
    let root = tree(&mut tx, 3000);
    let whole = same_findings(&mut tx, &root);
    assert!(whole.is_clean(), "{:?}", whole.problems);
    assert_eq!(whole.pairs, 3000);
    assert!(whole.nodes > 20);
}

/// Rewrites the root branch with `edit` applied, sealed again.
fn edit_root(tx: &mut common::Store, root: &TreeRoot, edit: impl FnOnce(&mut Node)) {
    let mut buf = vec![0u8; 4096];
    tx.read(root.block, &mut buf).unwrap();
    let mut node = Node::decode(root.block, &buf).unwrap();
    edit(&mut node);
    tx.write(root.block, &node.encode(root.block)).unwrap();
}

#[test]
fn a_child_reached_twice_is_reported_once_in_steps_as_in_one_call() {
    let mut tx = common::new_store(8192);
    let root = tree(&mut tx, 3000);
    assert!(root.height >= 2);
    edit_root(&mut tx, &root, |n| {
        let Entries::Branch(v) = &mut n.entries else {
            panic!("root is a leaf")
        };
        v[2].child = v[1].child;
    });
    let whole = same_findings(&mut tx, &root);
    assert_eq!(whole.problem_count, 1, "{:?}", whole.problems);
    assert!(
        whole.problems[0].contains("reached twice"),
        "{:?}",
        whole.problems
    );
}

#[test]
fn a_flipped_byte_and_a_lying_height_are_found_alike_in_steps() {
    let mut tx = common::new_store(8192);
    let root = tree(&mut tx, 3000);
    let mut blocks = Vec::new();
    cowbtree::visit_node_blocks(&mut tx, &root, |b| blocks.push(b)).unwrap();
    let victim = blocks[blocks.len() / 2];
    let mut buf = vec![0u8; 4096];
    tx.read(victim, &mut buf).unwrap();
    buf[200] ^= 0x10;
    tx.write(victim, &buf).unwrap();
    let whole = same_findings(&mut tx, &root);
    assert_eq!(whole.problem_count, 1, "{:?}", whole.problems);
    assert!(whole.problems[0].contains(&format!("block {victim}")));

    let mut lying = root;
    lying.height += 1;
    assert!(!same_findings(&mut tx, &lying).is_clean());
}

#[test]
fn pages_from_a_key_hand_out_every_pair_once() {
    let mut tx = common::new_store(8192);
    let root = tree(&mut tx, 3000);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut from: Option<Vec<u8>> = None;
    let mut pages = 0;
    loop {
        let mut page = TreeCheck::from_key(&root, from.as_deref());
        let done = page.step_visit(&mut tx, 8, &mut |v| {
            if let Visited::Pair(k, _) = v {
                seen.push(k.to_vec());
            }
        });
        assert!(page.report().is_clean(), "{:?}", page.report().problems);
        pages += 1;
        if done {
            break;
        }
        let next = page.next_key().expect("a page of 8 nodes reaches a leaf");
        assert!(from.as_deref().is_none_or(|f| next > f), "no progress");
        from = Some(next.to_vec());
    }
    assert!(pages > 5);
    let want: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("key{i:06}").into_bytes())
        .collect();
    assert_eq!(seen, want);
}
