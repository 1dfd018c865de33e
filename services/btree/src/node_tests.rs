//! Unit tests of the node encoding (`node.rs`): round trips, the
//! view's reads, and every way a block can fail to decode.

use super::*;
use proptest::prelude::*;

fn leaf(pairs: &[(&[u8], &[u8])]) -> Node {
    Node {
        generation: 7,
        level: 0,
        entries: Entries::Leaf(
            pairs
                .iter()
                .map(|(k, v)| LeafEntry {
                    key: k.to_vec(),
                    value: v.to_vec(),
                })
                .collect(),
        ),
    }
}

/// `block::Transactional::write_verified`'s contract: the block store
/// journals a node under the CRC-32C it reads off the node's seal, so the
/// seal must be what the block layer takes it for (offset and coverage).
#[test]
fn seal_is_what_the_block_layer_reads_off_it() {
    let branch = Node {
        generation: u64::MAX,
        level: 3,
        entries: Entries::Branch(vec![
            BranchEntry {
                key: vec![],
                child: 17,
            },
            BranchEntry {
                key: vec![0xFF; MAX_KEY_LEN],
                child: u64::MAX,
            },
        ]),
    };
    let nodes = [
        Node::empty_leaf(0),
        leaf(&[(b"a", b"1"), (b"bb", b""), (b"c", &[9u8; 1024])]),
        branch,
    ];
    assert_eq!(block::SEAL_FIELD, OFF_CHECKSUM);
    for node in &nodes {
        for home in [0u64, 1, 42, 1 << 40, u64::MAX] {
            let image = node.encode(home);
            assert_eq!(
                block::sealed_image_crc(home, &image),
                Some(crate::checksum::crc32c(&[&image])),
                "home {home}"
            );
        }
    }
}

#[test]
fn leaf_round_trip() {
    let n = leaf(&[(b"a", b"1"), (b"bb", b""), (b"c", &[9u8; 1024])]);
    let img = n.encode(42);
    assert_eq!(Node::decode(42, &img), Ok(n));
}

#[test]
fn branch_round_trip() {
    let n = Node {
        generation: u64::MAX,
        level: 3,
        entries: Entries::Branch(vec![
            BranchEntry {
                key: vec![],
                child: 5,
            },
            BranchEntry {
                key: b"m".to_vec(),
                child: u64::MAX,
            },
        ]),
    };
    let img = n.encode(1);
    assert_eq!(Node::decode(1, &img), Ok(n));
}

#[test]
fn wrong_block_number_fails_checksum() {
    let img = leaf(&[(b"a", b"1")]).encode(10);
    assert!(matches!(
        Node::decode(11, &img),
        Err(NodeDecodeError::ChecksumMismatch { .. })
    ));
}

#[test]
fn flipped_bit_fails_checksum() {
    let mut img = leaf(&[(b"a", b"1")]).encode(10);
    img[HEADER_LEN + 3] ^= 1;
    assert!(matches!(
        Node::decode(10, &img),
        Err(NodeDecodeError::ChecksumMismatch { .. })
    ));
}

#[test]
fn out_of_order_keys_rejected() {
    // Build by hand: the encoder does not check order.
    let img = leaf(&[(b"b", b""), (b"a", b"")]).encode(3);
    assert_eq!(
        Node::decode(3, &img),
        Err(NodeDecodeError::KeysOutOfOrder { index: 1 })
    );
}

#[test]
fn branch_with_nonempty_first_key_rejected() {
    let n = Node {
        generation: 1,
        level: 1,
        entries: Entries::Branch(vec![BranchEntry {
            key: b"x".to_vec(),
            child: 5,
        }]),
    };
    assert_eq!(
        Node::decode(0, &n.encode(0)),
        Err(NodeDecodeError::FirstBranchKeyNotEmpty { len: 1 })
    );
}

#[test]
fn level_too_high_rejected() {
    let mut n = leaf(&[]);
    n.level = MAX_LEVEL + 1;
    n.entries = Entries::Branch(vec![BranchEntry {
        key: vec![],
        child: 1,
    }]);
    assert_eq!(
        Node::decode(0, &n.encode(0)),
        Err(NodeDecodeError::LevelTooHigh {
            level: MAX_LEVEL + 1
        })
    );
}

/// Re-seals a tampered image so the decoder gets past the checksum.
fn reseal(block: u64, img: &mut [u8; NODE_SIZE]) {
    let sum = node_checksum(block, img);
    img[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
}

proptest! {
    #[test]
    fn decode_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = Node::decode(0, &bytes);
    }

    /// Random edits to a valid node, re-sealed with a correct checksum so
    /// the structural checks are what gets exercised.
    #[test]
    fn decode_never_panics_on_resealed_edits(
        edits in proptest::collection::vec((0usize..NODE_SIZE, any::<u8>()), 1..16),
        level in 0u8..3,
    ) {
        let mut n = leaf(&[(b"a", b"1"), (b"b", b"22"), (b"c", b"333")]);
        if level > 0 {
            n.level = level;
            n.entries = Entries::Branch(vec![
                BranchEntry { key: vec![], child: 1 },
                BranchEntry { key: b"k".to_vec(), child: 2 },
            ]);
        }
        let mut img = n.encode(9);
        for (at, v) in edits {
            img[at] = v;
        }
        reseal(9, &mut img);
        if let Ok(d) = Node::decode(9, &img) {
            // Whatever decodes must re-encode to the same image.
            prop_assert_eq!(d.encode(9), img);
        }
    }

    #[test]
    fn leaf_round_trips(mut pairs in proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..100), 0..30)
    ) {
        let n = Node {
            generation: 3,
            level: 0,
            entries: Entries::Leaf(
                core::mem::take(&mut pairs).into_iter().map(|(key, value)| LeafEntry { key, value }).collect(),
            ),
        };
        prop_assert_eq!(Node::decode(77, &n.encode(77)), Ok(n));
    }
}

proptest! {
    /// A leaf changed in its image (`leaf_with` + `seal`) is byte for byte
    /// what decoding, changing and encoding it makes.
    #[test]
    fn leaf_spliced_in_place_equals_encoded(
        pairs in proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..300),
            0..24,
        ),
        key in proptest::collection::vec(any::<u8>(), 0..40),
        value in proptest::collection::vec(any::<u8>(), 0..1025),
        block in any::<u64>(),
    ) {
        let entries: Vec<LeafEntry> = pairs
            .into_iter()
            .map(|(key, value)| LeafEntry { key, value })
            .collect();
        let n = Node { generation: 3, level: 0, entries: Entries::Leaf(entries) };
        prop_assume!(n.fits());
        let img = n.encode(block);
        let view = NodeView::parse(block, &img).unwrap();
        let below = view.count_at_or_below(&key);
        let found = below.checked_sub(1).filter(|&i| view.key(i) == key.as_slice());
        let at = found.unwrap_or(below);
        let mut want = n.clone();
        want.generation = 8;
        let Entries::Leaf(v) = &mut want.entries else { unreachable!() };
        match found {
            Some(i) => v[i].value = value.clone(),
            None => v.insert(at, LeafEntry { key: key.clone(), value: value.clone() }),
        }
        match view.leaf_with(at, found.is_some(), &key, &value, 8) {
            Some(mut got) => {
                seal(block, &mut got);
                prop_assert_eq!(got, want.encode(block));
            }
            None => prop_assert!(!want.fits()),
        }
    }
}

#[test]
fn branch_child_patched_in_place_equals_encoded() {
    let mut n = Node {
        generation: 2,
        level: 1,
        entries: Entries::Branch(vec![
            BranchEntry {
                key: vec![],
                child: 5,
            },
            BranchEntry {
                key: b"m".to_vec(),
                child: 6,
            },
            BranchEntry {
                key: b"t".to_vec(),
                child: 7,
            },
        ]),
    };
    let img = n.encode(40);
    let view = NodeView::parse(40, &img).unwrap();
    let mut got = view.branch_with_child(1, 99, 9);
    seal(40, &mut got);
    n.generation = 9;
    if let Entries::Branch(v) = &mut n.entries {
        v[1].child = 99;
    }
    assert_eq!(got, n.encode(40));
}

#[test]
fn a_verified_view_reads_what_a_checked_one_does() {
    let n = leaf(&[(b"a", b"1"), (b"b", b"22")]);
    let img = n.encode(3);
    let v = NodeView::parse_verified(3, &img).unwrap();
    assert_eq!(v.to_node(), n);
    // Bounds are still checked: a lying cache cannot make it panic.
    let mut bad = img;
    bad[OFF_USED] = 0xff;
    assert!(NodeView::parse_verified(3, &bad).is_err());
}

/// The checksum is a pass over the block number and bytes 8..4096 whatever
/// the image: read off the entries and extended over a zero tail, or over
/// every byte when the header's `USED` or the tail says otherwise (so a
/// damaged node fails as before: a flipped tail byte is a checksum
/// mismatch, not a node that verifies).
#[test]
fn checksum_over_the_entries_equals_a_pass() {
    let full = |block: u64, img: &[u8; NODE_SIZE]| {
        crate::checksum::crc32c(&[&block.to_le_bytes(), &img[OFF_GENERATION..]])
    };
    let n = leaf(&[(b"a", b"1"), (b"bb", b""), (b"c", &[9u8; 1000])]);
    for block in [0u64, 7, u64::MAX] {
        let img = n.encode(block);
        assert_eq!(node_checksum(block, &img), full(block, &img));
        for at in [HEADER_LEN + 1012, HEADER_LEN + 1013, 2000, NODE_SIZE - 1] {
            let mut bad = img;
            bad[at] ^= 0x40;
            assert_eq!(node_checksum(block, &bad), full(block, &bad), "byte {at}");
            assert!(matches!(
                Node::decode(block, &bad),
                Err(NodeDecodeError::ChecksumMismatch { .. })
            ));
        }
        for used in [0u16, 1, 4064, 4065, u16::MAX] {
            let mut odd = img;
            odd[OFF_USED..OFF_USED + 2].copy_from_slice(&used.to_le_bytes());
            assert_eq!(node_checksum(block, &odd), full(block, &odd), "used {used}");
        }
    }
    let empty = Node::empty_leaf(3).encode(5);
    assert_eq!(node_checksum(5, &empty), full(5, &empty));
}
