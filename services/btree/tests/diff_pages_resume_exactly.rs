//! A diff taken a page at a time (`diff_page`) reports exactly what the
//! one-shot `diff` does: random trees sharing nodes with a snapshot, paged
//! at every size and resumed after every key (differing or not), an empty
//! diff, one side empty; and a resumed page reads a path down to its key,
//! not the tree before it.

mod common;

use block::Transactional;
use cowbtree::{DiffEntry, DiffLimits, TreeRoot};
use proptest::prelude::*;

type Store = common::Store;

fn insert(tx: &mut Store, root: &mut TreeRoot, k: &[u8], v: &[u8]) {
    cowbtree::insert(tx, root, k, v).unwrap();
}

fn whole(tx: &mut Store, old: &TreeRoot, new: &TreeRoot) -> Vec<DiffEntry> {
    let mut out = Vec::new();
    cowbtree::diff(tx, old, new, |e| out.push(e)).unwrap();
    out
}

/// The diff above `after`, pages chained until the end.
fn paged(
    tx: &mut Store,
    old: &TreeRoot,
    new: &TreeRoot,
    after: Option<Vec<u8>>,
    limits: DiffLimits,
) -> Vec<DiffEntry> {
    let mut out = Vec::new();
    let mut after = after;
    let mut pages = 0;
    loop {
        let mut page = Vec::new();
        let end =
            cowbtree::diff_page(tx, old, new, after.as_deref(), limits, |e| page.push(e)).unwrap();
        assert!(
            page.len() <= limits.entries,
            "a page holds at most its limit"
        );
        if let (Some(r), Some(last)) = (&end.resume_after, page.last()) {
            assert!(
                &last.key <= r,
                "the resume key is at or after the last reported"
            );
        }
        out.extend(page);
        pages += 1;
        assert!(pages < 100_000, "paging does not progress");
        match end.resume_after {
            Some(k) => {
                if let Some(a) = &after {
                    assert!(&k > a, "each page moves forward");
                }
                after = Some(k);
            }
            None => return out,
        }
    }
}

/// A tree of `base` keys, a snapshot of it, then `ops` changes to the live
/// tree (inserts, updates, removes, rewrites with the same value).
fn trees(tx: &mut Store, base: u32, ops: &[(u32, u8)]) -> (TreeRoot, TreeRoot) {
    tx.begin().unwrap();
    let mut root = cowbtree::create(tx).unwrap();
    for i in 0..base {
        let pad = "p".repeat((i % 5 * 40) as usize);
        insert(
            tx,
            &mut root,
            format!("k{i:05}{pad}").as_bytes(),
            &[i as u8; 30],
        );
    }
    let snap = cowbtree::snapshot(&mut root).unwrap();
    for &(i, op) in ops {
        let pad = "p".repeat((i % 5 * 40) as usize);
        let k = format!("k{i:05}{pad}");
        match op % 4 {
            0 => insert(tx, &mut root, k.as_bytes(), b"changed"),
            1 => {
                cowbtree::remove(tx, &mut root, k.as_bytes()).unwrap();
            }
            // The same value again: the node is copied, the key is no change.
            2 => insert(tx, &mut root, k.as_bytes(), &[i as u8; 30]),
            _ => insert(tx, &mut root, format!("k{i:05}new").as_bytes(), b"added"),
        }
    }
    (snap, root)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn pages_concatenate_to_the_one_shot_diff(
        base in 0u32..1500,
        ops in proptest::collection::vec((0u32..1600, any::<u8>()), 0..200),
        entries in 1usize..40,
        nodes in 1u64..12,
    ) {
        let mut tx = common::new_store(16384);
        let (snap, live) = trees(&mut tx, base, &ops);
        let want = whole(&mut tx, &snap, &live);
        let both_ways = [(snap, live), (live, snap)];
        for (old, new) in both_ways {
            let want = whole(&mut tx, &old, &new);
            for limits in [
                DiffLimits { entries, nodes: u64::MAX },
                DiffLimits { entries: usize::MAX, nodes },
                DiffLimits { entries: 1, nodes: 1 },
                DiffLimits::NONE,
            ] {
                prop_assert_eq!(&paged(&mut tx, &old, &new, None, limits), &want);
            }
        }
        // Resumed after every differing key: the rest, exactly.
        for (i, e) in want.iter().enumerate() {
            let rest = paged(&mut tx, &snap, &live, Some(e.key.clone()), DiffLimits::NONE);
            prop_assert_eq!(&rest[..], &want[i + 1..]);
        }
        // Resumed after keys that are no change (and between keys).
        for probe in ["", "k00007", "k00500p", "k01000zz", "z"] {
            let rest = paged(&mut tx, &snap, &live, Some(probe.as_bytes().to_vec()), DiffLimits::NONE);
            let expect: Vec<_> = want.iter().filter(|e| e.key.as_slice() > probe.as_bytes()).cloned().collect();
            prop_assert_eq!(rest, expect);
        }
    }
}

#[test]
fn identical_trees_are_one_empty_page_reading_nothing() {
    let mut tx = common::new_store(4096);
    let (snap, _) = trees(&mut tx, 800, &[]);
    let end = cowbtree::diff_page(&mut tx, &snap, &snap, None, DiffLimits::NONE, |_| {
        panic!("no difference expected")
    })
    .unwrap();
    assert_eq!(end.resume_after, None);
    assert_eq!(end.stats.nodes_read, 0);
}

#[test]
fn one_side_empty_lists_every_key_in_pages() {
    let mut tx = common::new_store(8192);
    let (full, _) = trees(&mut tx, 900, &[]);
    let empty = cowbtree::create(&mut tx).unwrap();
    let added = paged(
        &mut tx,
        &empty,
        &full,
        None,
        DiffLimits {
            entries: 17,
            nodes: u64::MAX,
        },
    );
    assert_eq!(added.len(), 900);
    assert!(added.iter().all(|e| e.old.is_none() && e.new.is_some()));
    let removed = paged(
        &mut tx,
        &full,
        &empty,
        None,
        DiffLimits {
            entries: 5,
            nodes: 3,
        },
    );
    assert_eq!(removed.len(), 900);
    assert!(removed.iter().all(|e| e.old.is_some() && e.new.is_none()));
    assert!(added.windows(2).all(|w| w[0].key < w[1].key), "key order");
}

#[test]
fn a_resumed_page_reads_one_path_not_what_came_before() {
    let mut tx = common::new_store(16384);
    // Every key changed: nothing is shared below the roots.
    let ops: Vec<(u32, u8)> = (0..3000).map(|i| (i, 0)).collect();
    let (snap, live) = trees(&mut tx, 3000, &ops);
    let height = u64::from(live.height.max(snap.height));
    let mut first = Vec::new();
    let end = cowbtree::diff_page(
        &mut tx,
        &snap,
        &live,
        Some(b"k02000"),
        DiffLimits {
            entries: 10,
            nodes: u64::MAX,
        },
        |e| first.push(e),
    )
    .unwrap();
    assert_eq!(first.len(), 10);
    assert!(first[0].key.as_slice() > b"k02000".as_slice());
    // Down to the key and a leaf or two further on each side, whatever
    // the 2000 keys before it hold.
    let limit = 4 * height + 4;
    assert!(height >= 2, "a tree with branches");
    let all = cowbtree::diff(&mut tx, &snap, &live, |_| {}).unwrap();
    assert!(
        all.nodes_read > 4 * limit,
        "the whole diff reads {}",
        all.nodes_read
    );
    assert!(
        end.stats.nodes_read <= limit,
        "a page of 10 read {} nodes (limit {limit})",
        end.stats.nodes_read
    );
}
