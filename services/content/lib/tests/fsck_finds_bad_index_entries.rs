//! The store's fsck reports, with the chunk's hash and block, index entries
//! whose extent is not allocated, overlaps another chunk, or lies past the
//! end of the store, and counters that disagree with the index.

mod common;

use block::{Durability, Transactional};
use content::{ChunkRef, ContentRoot, ContentStore, Hex, IndexEntry};

/// Adds a crafted index entry (as a bug or a bad disk could leave) and
/// returns the reopened store.
fn with_entry<T: Transactional>(
    tx: &mut T,
    store: &ContentStore,
    hash: [u8; 32],
    entry: IndexEntry,
    fix_counters: bool,
) -> ContentStore {
    let mut root: ContentRoot = *store.root();
    tx.begin().unwrap();
    cowbtree::insert(tx, &mut root.index, &hash, &entry.encode()).unwrap();
    tx.commit(Durability::Durable).unwrap();
    if fix_counters {
        root.chunks += 1;
        root.chunk_bytes += u64::from(entry.len);
        root.data_blocks += entry.blocks();
    }
    ContentStore::open(&root.encode()).unwrap()
}

fn setup() -> (common::Store, ContentStore, Vec<ChunkRef>) {
    let (mut tx, mut store) = common::new_store(4096);
    let refs = common::put(&mut tx, &mut store, &common::noise(300_000, 1), 100_000, 1);
    assert!(store.check(&mut tx, true).is_clean());
    (tx, store, refs)
}

fn first_extent<T: Transactional>(tx: &mut T, store: &ContentStore) -> block::Extent {
    let mut extents = Vec::new();
    store.visit_blocks(tx, |e| extents.push(e)).unwrap();
    *extents.iter().find(|e| e.len > 1).expect("a chunk extent")
}

#[test]
fn overlapping_extent_is_reported() {
    let (mut tx, store, _) = setup();
    let victim = first_extent(&mut tx, &store);
    let hash = [0x11; 32];
    let bad = with_entry(
        &mut tx,
        &store,
        hash,
        IndexEntry {
            start: victim.start + 1,
            len: 4096,
            epoch: 0,
        },
        true,
    );
    let report = bad.check(&mut tx, false);
    // Whichever of the two chunks is checked second is named, with the block.
    let shared = format!("block {} is also used", victim.start + 1);
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains(&shared),
        "{:?}",
        report.problems
    );
}

#[test]
fn unallocated_and_out_of_range_extents_are_reported() {
    let (mut tx, store, _) = setup();
    let free_block = (tx.geometry().data_start..tx.block_count())
        .rev()
        .find(|&b| !tx.is_allocated(b).unwrap())
        .unwrap();
    let hash = [0x22; 32];
    let bad = with_entry(
        &mut tx,
        &store,
        hash,
        IndexEntry {
            start: free_block,
            len: 100,
            epoch: 0,
        },
        true,
    );
    let report = bad.check(&mut tx, false);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("block {free_block} is not allocated"))),
        "{:?}",
        report.problems
    );

    let far = [0x33; 32];
    let last = tx.block_count() - 1;
    let bad = with_entry(
        &mut tx,
        &bad,
        far,
        IndexEntry {
            start: last,
            len: 10_000,
            epoch: 0,
        },
        true,
    );
    let report = bad.check(&mut tx, false);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&Hex(&far).to_string()) && p.contains("past the end")),
        "{:?}",
        report.problems
    );
}

#[test]
fn counters_out_of_step_are_reported() {
    let (mut tx, store, _) = setup();
    let victim = first_extent(&mut tx, &store);
    // A second entry for an existing extent's bytes under another hash,
    // counters not updated: both the overlap and the counters show.
    let bad = with_entry(
        &mut tx,
        &store,
        [0x44; 32],
        IndexEntry {
            start: victim.start,
            len: 4096,
            epoch: 0,
        },
        false,
    );
    let report = bad.check(&mut tx, false);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("counters say")),
        "{:?}",
        report.problems
    );
}
