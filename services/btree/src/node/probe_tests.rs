//! A probe ([`Probe::verified`]) finds what the verified view's binary
//! search finds (`NodeView::parse` + `count_at_or_below` + a key compare)
//! on valid leaves and branches, builds the same changed images, and on
//! corrupted images never panics and fails exactly as the view fails.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::super::{seal, BranchEntry, Entries, LeafEntry, Node, NodeView, NODE_SIZE};
use super::Probe;

/// Keys of many lengths (empty to the 255-byte maximum), few bytes so that
/// they share prefixes.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(0u8..4, 0..6),
        proptest::collection::vec(0u8..4, 0..40),
        proptest::collection::vec(any::<u8>(), 200..=255),
    ]
}

/// Drops the last entries of `n` until it fits in a block (long keys).
fn fitted(mut n: Node) -> Node {
    while !n.fits() {
        match &mut n.entries {
            Entries::Leaf(v) => v.truncate(v.len() - 1),
            Entries::Branch(v) => v.truncate(v.len() - 1),
        }
    }
    n
}

fn keys_of(n: &Node) -> Vec<Vec<u8>> {
    match &n.entries {
        Entries::Leaf(v) => v.iter().map(|e| e.key.clone()).collect(),
        Entries::Branch(v) => v.iter().map(|e| e.key.clone()).collect(),
    }
}

fn leaf_node(pairs: BTreeMap<Vec<u8>, Vec<u8>>) -> Node {
    fitted(Node {
        generation: 5,
        level: 0,
        entries: Entries::Leaf(
            pairs
                .into_iter()
                .map(|(key, value)| LeafEntry { key, value })
                .collect(),
        ),
    })
}

fn branch_node(level: u8, keys: BTreeMap<Vec<u8>, u64>) -> Node {
    let mut entries: Vec<BranchEntry> = keys
        .into_iter()
        .map(|(key, child)| BranchEntry { key, child })
        .collect();
    match entries.first_mut() {
        Some(e) => e.key.clear(),
        None => entries.push(BranchEntry {
            key: Vec::new(),
            child: 1,
        }),
    }
    fitted(Node {
        generation: 5,
        level,
        entries: Entries::Branch(entries),
    })
}

/// The key to look up: one of the node's (`pick`, the first or the last),
/// or `other`, which may or may not be there.
fn searched(keys: &[Vec<u8>], pick: usize, mode: u8, other: Vec<u8>) -> Vec<u8> {
    match (mode % 4, keys.is_empty()) {
        (0, false) => keys[pick % keys.len()].clone(),
        (1, false) => keys[0].clone(),
        (2, false) => keys[keys.len() - 1].clone(),
        _ => other,
    }
}

/// What the old lookup found: (count at or below, the leaf's value).
fn by_view<'a>(view: &NodeView<'a>, key: &[u8]) -> (usize, Option<&'a [u8]>) {
    let below = view.count_at_or_below(key);
    let found = below
        .checked_sub(1)
        .filter(|&i| view.is_leaf() && view.key(i) == key)
        .map(|i| view.value(i));
    (below, found)
}

/// The probe and the view agree on everything a lookup or an insert uses.
fn assert_same(block: u64, img: &[u8; NODE_SIZE], key: &[u8], value: &[u8]) {
    let view = NodeView::parse(block, img).unwrap();
    let probe = Probe::verified(block, img, key).unwrap();
    let (below, found) = by_view(&view, key);
    assert_eq!(probe.below(), below);
    assert_eq!(probe.found(), found);
    assert_eq!(probe.len(), view.len());
    assert_eq!(probe.level, view.level);
    assert_eq!(probe.generation, view.generation);
    if view.is_leaf() {
        let at = if found.is_some() { below - 1 } else { below };
        assert_eq!(
            probe.leaf_with(key, value, 9),
            view.leaf_with(at, found.is_some(), key, value, 9)
        );
    } else {
        let i = below - 1;
        assert_eq!(probe.child(), Some(view.child(i)));
        assert_eq!(
            probe.branch_with_child(77, 9),
            view.branch_with_child(i, 77, 9)
        );
    }
}

proptest! {
    #[test]
    fn a_probe_of_a_leaf_finds_what_the_view_finds(
        pairs in proptest::collection::btree_map(key(), proptest::collection::vec(any::<u8>(), 0..60), 0..40),
        pick in any::<usize>(),
        mode in any::<u8>(),
        other in key(),
        value in proptest::collection::vec(any::<u8>(), 0..300),
        block in any::<u64>(),
    ) {
        let n = leaf_node(pairs);
        let keys = keys_of(&n);
        let img = n.encode(block);
        assert_same(block, &img, &searched(&keys, pick, mode, other), &value);
    }

    #[test]
    fn a_probe_of_a_branch_finds_the_child_the_view_finds(
        keys in proptest::collection::btree_map(key(), any::<u64>(), 0..80),
        level in 1u8..=24,
        pick in any::<usize>(),
        mode in any::<u8>(),
        other in key(),
        block in any::<u64>(),
    ) {
        let n = branch_node(level, keys);
        let ks = keys_of(&n);
        let img = n.encode(block);
        assert_same(block, &img, &searched(&ks, pick, mode, other), b"");
    }

    /// Bytes changed in a valid image, resealed or not: the probe never
    /// panics, fails exactly where `parse_verified` fails (with the same
    /// error), and where the image is still a valid node it finds what the
    /// view finds.
    #[test]
    fn a_probe_of_a_corrupted_image_fails_as_the_view_does(
        pairs in proptest::collection::btree_map(key(), proptest::collection::vec(any::<u8>(), 0..60), 1..30),
        branch in any::<bool>(),
        writes in proptest::collection::vec((0usize..NODE_SIZE, any::<u8>()), 1..6),
        header_writes in proptest::collection::vec((0usize..48, any::<u8>()), 0..3),
        reseal in any::<bool>(),
        other in key(),
    ) {
        let n = if branch {
            branch_node(2, pairs.into_keys().map(|k| (k, 3)).collect())
        } else {
            leaf_node(pairs)
        };
        let block = 11;
        let mut img = n.encode(block);
        for (at, b) in writes.into_iter().chain(header_writes) {
            img[at] = b;
        }
        if reseal {
            seal(block, &mut img);
        }
        match Probe::verified(block, &img, &other) {
            Err(e) => prop_assert_eq!(NodeView::parse_verified(block, &img).err(), Some(e)),
            Ok(probe) => {
                prop_assert!(NodeView::parse_verified(block, &img).is_ok());
                // Reads inside the image only, whatever it holds.
                let _ = (probe.found(), probe.child(), probe.branch_with_child(1, 2));
                let _ = probe.leaf_with(&other, b"v", 3);
                if NodeView::parse(block, &img).is_ok() {
                    assert_same(block, &img, &other, b"v");
                }
            }
        }
    }
}

#[test]
fn a_probe_finds_a_key_its_neighbours_and_rejects_a_short_buffer() {
    let n = leaf_node(
        [
            (b"a".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
        ]
        .into_iter()
        .collect(),
    );
    let img = n.encode(4);
    let p = Probe::verified(4, &img, b"b").unwrap();
    assert_eq!((p.below(), p.found()), (1, None));
    let p = Probe::verified(4, &img, b"c").unwrap();
    assert_eq!((p.below(), p.found()), (2, Some(&b"3"[..])));
    // The wrong size and a short buffer are errors, not panics.
    assert!(Probe::verified(4, &img[..100], b"a").is_err());
}
