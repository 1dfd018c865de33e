//! Reference model: random inserts, removes and range scans against a
//! `BTreeMap`, with snapshots taken along the way. Every snapshot must keep
//! reading exactly the contents it had (plus the writes made to it) while
//! the live tree changes; diff
//! between any snapshot and the live tree must equal the model's difference;
//! every tree must pass `check`.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use block::{Durability, Transactional};
use cowbtree::{DiffEntry, TreeRoot};
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
    Range(Vec<u8>, Vec<u8>),
    Snapshot,
    /// Writes into snapshot `n % count` instead of the live tree: both
    /// copies made by `snapshot` may be written without disturbing each other.
    WriteSnapshot(usize, Vec<u8>, Option<Vec<u8>>),
    Commit,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Short keys from a small alphabet: many collisions and removes that hit.
        4 => (0u16..400).prop_map(|n| format!("k{n:03}").into_bytes()),
        // Long keys: few per node, deep trees.
        1 => (0u16..400, 0usize..=240).prop_map(|(n, pad)| {
            let mut k = format!("k{n:03}").into_bytes();
            k.extend(std::iter::repeat_n(b'x', pad));
            k
        }),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..16),
        1 => proptest::collection::vec(any::<u8>(), 0..=cowbtree::MAX_VALUE_LEN),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
        6 => key().prop_map(Op::Remove),
        1 => (key(), key()).prop_map(|(a, b)| Op::Range(a, b)),
        1 => Just(Op::Snapshot),
        1 => (any::<usize>(), key(), proptest::option::of(value())).prop_map(|(n, k, v)| Op::WriteSnapshot(n, k, v)),
        1 => Just(Op::Commit),
    ]
}

fn model_diff(old: &Model, new: &Model) -> Vec<DiffEntry> {
    let keys: std::collections::BTreeSet<&Vec<u8>> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (old.get(k), new.get(k));
            (o != n).then(|| DiffEntry {
                key: k.clone(),
                old: o.cloned(),
                new: n.cloned(),
            })
        })
        .collect()
}

fn verify<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    model: &Model,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&common::scan(tx, root), model);
    let report = cowbtree::check(tx, root);
    prop_assert!(report.is_clean(), "check: {:?}", report.problems);
    prop_assert_eq!(report.pairs, model.len() as u64);
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut tx = common::new_store(8192);
    tx.begin().unwrap();
    let mut live = cowbtree::create(&mut tx).unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(TreeRoot, Model)> = Vec::new();
    for op in ops {
        match op {
            Op::Insert(k, v) => {
                let old = cowbtree::insert(&mut tx, &mut live, &k, &v).unwrap();
                prop_assert_eq!(old, model.insert(k.clone(), v.clone()));
                prop_assert_eq!(cowbtree::get(&mut tx, &live, &k).unwrap(), Some(v));
            }
            Op::Remove(k) => {
                let old = cowbtree::remove(&mut tx, &mut live, &k).unwrap();
                prop_assert_eq!(old, model.remove(&k));
                prop_assert_eq!(cowbtree::get(&mut tx, &live, &k).unwrap(), None);
            }
            Op::Range(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let got: Vec<(Vec<u8>, Vec<u8>)> =
                    cowbtree::range(&mut tx, &live, Bound::Included(&lo), Bound::Excluded(&hi))
                        .unwrap()
                        .map(|r| r.unwrap())
                        .collect();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .range::<Vec<u8>, _>((Bound::Included(&lo), Bound::Excluded(&hi)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want);
                let got_excl: Vec<Vec<u8>> =
                    cowbtree::range(&mut tx, &live, Bound::Excluded(&lo), Bound::Included(&hi))
                        .unwrap()
                        .map(|r| r.unwrap().0)
                        .collect();
                let want_excl: Vec<Vec<u8>> = model
                    .range::<Vec<u8>, _>((Bound::Excluded(&lo), Bound::Included(&hi)))
                    .map(|(k, _)| k.clone())
                    .collect();
                prop_assert_eq!(got_excl, want_excl);
            }
            Op::Snapshot => {
                let snap = cowbtree::snapshot(&mut live).unwrap();
                snapshots.push((snap, model.clone()));
            }
            Op::WriteSnapshot(n, k, v) => {
                if snapshots.is_empty() {
                    continue;
                }
                let i = n % snapshots.len();
                let (root, snap_model) = &mut snapshots[i];
                match v {
                    Some(v) => {
                        let old = cowbtree::insert(&mut tx, root, &k, &v).unwrap();
                        prop_assert_eq!(old, snap_model.insert(k, v));
                    }
                    None => {
                        let old = cowbtree::remove(&mut tx, root, &k).unwrap();
                        prop_assert_eq!(old, snap_model.remove(&k));
                    }
                }
            }
            Op::Commit => {
                tx.commit(Durability::Batched).unwrap();
                tx.begin().unwrap();
            }
        }
        prop_assert_eq!(live.entries, model.len() as u64);
    }
    verify(&mut tx, &live, &model)?;
    for (snap, snap_model) in &snapshots {
        verify(&mut tx, snap, snap_model)?;
        let mut got = Vec::new();
        cowbtree::diff(&mut tx, snap, &live, |d| got.push(d)).unwrap();
        prop_assert_eq!(got, model_diff(snap_model, &model));
        let mut back = Vec::new();
        cowbtree::diff(&mut tx, &live, snap, |d| back.push(d)).unwrap();
        prop_assert_eq!(back, model_diff(&model, snap_model));
    }
    // Every node of every tree is an allocated block.
    for root in std::iter::once(&live).chain(snapshots.iter().map(|(r, _)| r)) {
        let mut blocks = Vec::new();
        cowbtree::visit_node_blocks(&mut tx, root, |b| blocks.push(b)).unwrap();
        for b in blocks {
            prop_assert!(
                tx.is_allocated(b).unwrap(),
                "node block {} is not allocated",
                b
            );
        }
    }
    tx.commit(Durability::Durable).unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_btreemap_with_snapshots(ops in proptest::collection::vec(op(), 1..600)) {
        run(ops)?;
    }
}
