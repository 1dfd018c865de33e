//! `insert_batch` makes the tree single inserts make: the same root, the
//! same nodes at the same blocks, byte for byte, and the same blocks
//! allocated, for random sorted batches (1..2000 entries, with keys the
//! tree holds, keys repeated in the batch and values it holds already)
//! over trees of every height, with splits at every level and shared
//! (snapshotted) nodes copied on write. And each changed node is written
//! (sealed) once: a run of entries into one leaf is one write.

mod common;

use block::{Durability, Transactional};
use cowbtree::{TreeRoot, NODE_SIZE};
use testkit::{CountingReads, SplitMix};

use common::{new_store, scan, Store};

/// A store counting node writes (each one sealed by the default
/// `write_sealing`) and block reads (`calls`).
type Counting = CountingReads<Store>;

const BLOCKS: u64 = 8192;

fn counting() -> Counting {
    CountingReads::new(new_store(BLOCKS))
}

/// How a case's keys look: the shapes the services insert, and long keys
/// for deep trees.
#[derive(Clone, Copy, Debug)]
enum Keys {
    /// 32 random bytes (content's chunk index).
    Hash,
    /// An inode and a growing offset, big-endian (the fs's extent map).
    Appending,
    /// A few bytes from a small space: many hit keys the tree holds.
    Small,
    /// Up to 255 bytes: few per node, splits at every level.
    Long,
}

fn key(rng: &mut SplitMix, shape: Keys, n: &mut u64) -> Vec<u8> {
    match shape {
        Keys::Hash => (0..4).flat_map(|_| rng.next_u64().to_be_bytes()).collect(),
        Keys::Appending => {
            *n += 1 + rng.next_u64() % 3;
            let mut k = b"e".to_vec();
            k.extend_from_slice(&7u64.to_be_bytes());
            k.extend_from_slice(&(*n << 16).to_be_bytes());
            k
        }
        Keys::Small => format!("k{:04}", rng.next_u64() % 3000).into_bytes(),
        Keys::Long => {
            let mut k = format!("k{:04}", rng.next_u64() % 3000).into_bytes();
            let pad = (rng.next_u64() % 250) as usize;
            k.extend(std::iter::repeat_n(b'x', pad));
            k
        }
    }
}

fn value(rng: &mut SplitMix) -> Vec<u8> {
    let len = match rng.next_u64() % 8 {
        0 => (rng.next_u64() % (cowbtree::MAX_VALUE_LEN as u64 + 1)) as usize,
        1 => 0,
        _ => (rng.next_u64() % 48) as usize,
    };
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// The tree's nodes, by block, as the device holds them now.
fn nodes<T: Transactional>(tx: &mut T, root: &TreeRoot) -> Vec<(u64, Vec<u8>)> {
    let mut blocks = Vec::new();
    cowbtree::visit_node_blocks(tx, root, |b| blocks.push(b)).unwrap();
    blocks
        .into_iter()
        .map(|b| {
            let mut image = vec![0u8; NODE_SIZE];
            tx.read(b, &mut image).unwrap();
            (b, image)
        })
        .collect()
}

/// Builds a tree of `prefill` entries (committed, then maybe snapshotted
/// so that its nodes are shared), then inserts `batch` into it one entry
/// at a time in one store and as one batch in an identical other store,
/// and compares: roots, nodes, allocation, contents, `check`.
fn case(seed: u64, shape: Keys, prefill: usize, batch_len: usize, snapshot: bool) {
    let mut rng = SplitMix(seed);
    let mut n = 0;
    let pre: Vec<(Vec<u8>, Vec<u8>)> = (0..prefill)
        .map(|_| (key(&mut rng, shape, &mut n), value(&mut rng)))
        .collect();
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = (0..batch_len)
        .map(|i| match rng.next_u64() % 10 {
            // A pair the tree holds already (unchanged) or a new value for
            // a key it holds.
            0 if !pre.is_empty() => pre[(rng.next_u64() as usize) % pre.len()].clone(),
            1 if !pre.is_empty() => (
                pre[(rng.next_u64() as usize) % pre.len()].0.clone(),
                value(&mut rng),
            ),
            // A key given twice in the batch.
            2 if i > 0 => (key(&mut rng, Keys::Small, &mut n), value(&mut rng)),
            _ => (key(&mut rng, shape, &mut n), value(&mut rng)),
        })
        .collect();
    if batch_len > 1 && rng.next_u64().is_multiple_of(2) {
        let dup = batch[0].0.clone();
        batch.push((dup, value(&mut rng)));
    }
    // Stable: repeated keys keep their order, as the caller gave them.
    batch.sort_by(|a, b| a.0.cmp(&b.0));
    let what =
        format!("seed {seed} {shape:?} prefill {prefill} batch {batch_len} snapshot {snapshot}");
    compare(&pre, &batch, snapshot, &what);
}

/// Inserts `pre` (then commits, and snapshots if `snapshot`), then `batch`
/// one entry at a time in one store and as one batch in an identical
/// other store, and compares them.
fn compare(pre: &[(Vec<u8>, Vec<u8>)], batch: &[(Vec<u8>, Vec<u8>)], snapshot: bool, what: &str) {
    let mut stores = [counting(), counting()];
    let mut roots = Vec::new();
    for s in &mut stores {
        s.begin().unwrap();
        let mut root = cowbtree::create(s).unwrap();
        for (k, v) in pre {
            cowbtree::insert(s, &mut root, k, v).unwrap();
        }
        if snapshot {
            cowbtree::snapshot(&mut root).unwrap();
        }
        s.commit(Durability::Durable).unwrap();
        s.begin().unwrap();
        roots.push(root);
    }
    let (single, batched) = stores.split_at_mut(1);
    let (single, batched) = (&mut single[0], &mut batched[0]);
    let (mut r1, mut r2) = (roots[0], roots[1]);
    assert_eq!(r1, r2);
    let mut new_single = 0;
    for (k, v) in batch {
        if cowbtree::insert(single, &mut r1, k, v).unwrap().is_none() {
            new_single += 1;
        }
    }
    let new_batched =
        cowbtree::insert_batch(batched, &mut r2, batch, &mut [0xa5; NODE_SIZE]).unwrap();
    assert_eq!(new_batched, new_single, "{what}");
    assert_eq!(r1, r2, "{what}");
    assert_eq!(nodes(single, &r1), nodes(batched, &r2), "{what}");
    for b in 0..BLOCKS {
        assert_eq!(
            single.is_allocated(b).unwrap(),
            batched.is_allocated(b).unwrap(),
            "{what}: block {b}"
        );
    }
    assert!(
        batched.node_writes <= single.node_writes,
        "{what}: {} node writes batched, {} single",
        batched.node_writes,
        single.node_writes
    );
    let report = cowbtree::check(batched, &r2);
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    assert_eq!(scan(single, &r1), scan(batched, &r2), "{what}");
    batched.commit(Durability::Durable).unwrap();
    assert!(cowbtree::check(batched, &r2).is_clean());
}

#[test]
fn random_sorted_batches_make_the_tree_single_inserts_make() {
    let sizes = [1, 2, 3, 5, 16, 17, 64, 200, 511, 1000, 2000];
    let mut seed = 1;
    for shape in [Keys::Hash, Keys::Appending, Keys::Small, Keys::Long] {
        for &prefill in &[0, 1, 60, 900] {
            for &size in &sizes {
                for snapshot in [false, true] {
                    case(seed, shape, prefill, size, snapshot);
                    seed += 1;
                }
            }
        }
    }
}

#[test]
fn long_keys_split_every_level_alike() {
    // Long keys (few per node) and thousands of them: trees of height 4
    // and more, built from empty by one batch, and grown by another.
    for seed in 0..4 {
        case(1000 + seed, Keys::Long, 0, 2000, false);
        case(2000 + seed, Keys::Long, 1500, 2000, seed % 2 == 0);
    }
}

#[test]
fn a_leaf_filled_to_the_byte_does_not_split() {
    // 16 entries of 3 + 4 + 247 = 254 bytes fill a leaf's 4064 exactly:
    // single inserts keep one leaf, so must the batch; a 17th splits it.
    let entry = |i: u8| (format!("k{i:03}").into_bytes(), vec![i; 247]);
    let full: Vec<_> = (0..16).map(entry).collect();
    compare(&[], &full, false, "16 entries filling one leaf");
    compare(&full[..5], &full[5..], true, "a leaf filled by a batch");
    let over: Vec<_> = (0..17).map(entry).collect();
    compare(&[], &over, false, "17 entries");
}

#[test]
fn unsorted_entries_are_inserted_one_by_one() {
    let mut s = counting();
    s.begin().unwrap();
    let mut root = cowbtree::create(&mut s).unwrap();
    s.node_writes = 0;
    let entries = [
        (b"b".to_vec(), b"2".to_vec()),
        (b"a".to_vec(), b"1".to_vec()),
    ];
    let new = cowbtree::insert_batch(&mut s, &mut root, &entries, &mut [0; NODE_SIZE]).unwrap();
    assert_eq!(new, 2);
    assert_eq!(
        cowbtree::get(&mut s, &root, b"a").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        cowbtree::get(&mut s, &root, b"b").unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(s.node_writes, 2, "one write per single insert");
}

#[test]
fn a_run_into_one_leaf_is_one_write() {
    // A piece's extents: 16 entries of (inode, offset) keys appended to a
    // file's map in a tree of height 2 (the fs's live tree). Single
    // inserts write the last leaf 16 times; the batch once.
    let mut stores = [counting(), counting()];
    let mut roots = Vec::new();
    for s in &mut stores {
        s.begin().unwrap();
        let mut root = cowbtree::create(s).unwrap();
        for i in 0..200u64 {
            let k = [
                b"e".as_slice(),
                &7u64.to_be_bytes(),
                &(i << 16).to_be_bytes(),
            ]
            .concat();
            cowbtree::insert(s, &mut root, &k, &[0x11; 36]).unwrap();
        }
        s.commit(Durability::Durable).unwrap();
        s.begin().unwrap();
        s.node_writes = 0;
        s.calls = 0;
        roots.push(root);
    }
    assert_eq!(roots[0].height, 2);
    let piece: Vec<(Vec<u8>, [u8; 36])> = (200..216u64)
        .map(|i| {
            let k = [
                b"e".as_slice(),
                &7u64.to_be_bytes(),
                &(i << 16).to_be_bytes(),
            ]
            .concat();
            (k, [0x22; 36])
        })
        .collect();
    let (single, batched) = stores.split_at_mut(1);
    for (k, v) in &piece {
        cowbtree::insert(&mut single[0], &mut roots[0], k, v).unwrap();
    }
    cowbtree::insert_batch(&mut batched[0], &mut roots[1], &piece, &mut [0; NODE_SIZE]).unwrap();
    assert_eq!(roots[0], roots[1]);
    assert_eq!(single[0].node_writes, 16);
    assert_eq!(batched[0].node_writes, 1, "the leaf, once");
    // The store vouches for nothing: single inserts read each of the two
    // nodes per entry; the batch reads each once.
    assert_eq!(single[0].calls, 32);
    assert_eq!(batched[0].calls, 2);
}
