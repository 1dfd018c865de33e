//! A piece's chunks go into the chunk index as one batch
//! (`cowbtree::insert_batch` in `put_cuts`): each index node the piece
//! changes is sealed once, not once per chunk, and the lookups that find
//! which chunks are new are lent the cache's images instead of copying
//! each node (issue #13). The index is the one an insert per chunk (in
//! hash order) makes, and reads back every chunk.
//!
//! One test in this file: `cowbtree::node_seals` counts for the whole
//! process, so no other test may seal while it counts.

mod common;

use block::{Durability, Transactional};
use common::{new_store, Counting};
use content::{Cut, IndexCache, IndexEntry};
use testkit::SplitMix;

fn hash(rng: &mut SplitMix) -> [u8; 32] {
    let mut h = [0u8; 32];
    for part in h.chunks_mut(8) {
        part.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    h
}

/// `n` cuts of one byte each over `buf`, with random hashes (the store
/// takes the caller's hashes).
fn cuts(rng: &mut SplitMix, n: usize) -> Vec<Cut> {
    (0..n)
        .map(|i| Cut {
            at: i,
            len: 1,
            hash: hash(rng),
        })
        .collect()
}

#[test]
fn a_piece_seals_each_index_node_once_and_copies_none() {
    let (mut tx, mut store) = new_store(8192);
    let buf = vec![7u8; 4096];
    let mut rng = SplitMix(13);
    // An index of 1,500 chunks: two levels, ~30 leaves.
    tx.begin().unwrap();
    store
        .put_cuts(&mut tx, &buf, &cuts(&mut rng, 1500), &mut |_| {})
        .unwrap();
    tx.commit(Durability::Durable).unwrap();
    assert_eq!(store.root().index.height, 2);
    let before = store.encode_root();

    // A piece of 48 chunks (a 4 MiB step's, 64 KiB apiece), through the index cache as the service stores
    // it, the cache warm (as it is across a put's pieces).
    let piece = cuts(&mut rng, 48);
    let mut cache = IndexCache::new(Counting::new(&mut tx));
    cache.begin().unwrap();
    cache.start(&before);
    for c in &piece {
        // Every node the piece's walks reach is kept.
        cowbtree::get(&mut cache, &store.root().index, &c.hash).unwrap();
    }
    let copied = cache.stats().copied;
    let seals = cowbtree::node_seals();
    let done = store
        .put_cuts(&mut cache, &buf, &piece, &mut |_| {})
        .unwrap();
    let seals = cowbtree::node_seals() - seals;
    cache.answer(&mut store);
    cache.end(true).unwrap();
    assert_eq!(done.stored, 48);
    let mut written = cache.dev.sealed_writes.clone();
    written.sort_unstable();
    written.dedup();
    assert_eq!(written.len(), cache.dev.sealed_writes.len());
    // The leaves the piece lands in (fewer than its chunks: many take
    // several), and the root if one split: each sealed once. One insert
    // per chunk sealed a leaf per chunk (48) plus the root on each split.
    eprintln!("{} nodes written", written.len());
    assert!(written.len() < 40, "{written:?}");
    assert_eq!(seals, written.len() as u64, "one seal per node written");
    assert_eq!(cache.stats().copied, copied, "the walks copied no node");

    cache.dev.dev.commit(Durability::Durable).unwrap();
    for c in &piece {
        let v = cowbtree::get(&mut tx, &store.root().index, &c.hash)
            .unwrap()
            .expect("indexed");
        IndexEntry::decode(&v).unwrap();
    }
    // The data is one byte per chunk under a made-up hash: the tree and the
    // entries are checked, not the bytes.
    assert!(store.check(&mut tx, false).is_clean());
}
