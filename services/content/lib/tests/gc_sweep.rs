//! GC: chunks no marked reference holds are removed from the index and
//! their extents freed; marked chunks stay and read back; a dry run reports
//! the same figures and changes nothing; a chunk put (or deduplicated)
//! after the collection began survives even unmarked (an upload running
//! during GC keeps its data).

mod common;

use std::collections::HashSet;

use block::{Durability, Transactional};
use content::{ChunkMarks, ChunkRef, ContentStore, Sweep, SweepReport};

/// Runs a sweep to the end in steps of `step` entries, one transaction each.
fn sweep_all<T: Transactional>(
    tx: &mut T,
    store: &mut ContentStore,
    marks: &ChunkMarks,
    mut sweep: Sweep,
    step: usize,
) -> SweepReport {
    while !sweep.is_done() {
        tx.begin().unwrap();
        store.sweep_step(tx, marks, &mut sweep, step).unwrap();
        common::save_root(tx, store);
        tx.commit(Durability::Durable).unwrap();
    }
    sweep.report
}

fn mark_all<T: Transactional>(
    tx: &mut T,
    store: &ContentStore,
    objects: &[&Vec<ChunkRef>],
) -> ChunkMarks {
    let mut marks = ChunkMarks::new(tx.block_count());
    for refs in objects {
        for r in refs.iter() {
            store.mark(tx, r, &mut marks).unwrap();
        }
    }
    marks
}

fn allocated<T: Transactional>(tx: &mut T) -> usize {
    (0..tx.block_count())
        .filter(|&b| tx.is_allocated(b).unwrap())
        .count()
}

#[test]
fn unmarked_reclaimed_marked_kept_dry_run_changes_nothing() {
    let (mut tx, mut store) = common::new_store(16384);
    let keep_data = common::noise(2 << 20, 1);
    let drop_data = common::noise(3 << 20, 2);
    let keep = common::put(&mut tx, &mut store, &keep_data, 1 << 20, 1);
    let drop = common::put(&mut tx, &mut store, &drop_data, 1 << 20, 1);
    let keep_set: HashSet<_> = keep.iter().map(|r| r.hash).collect();
    let drop_only: Vec<_> = drop
        .iter()
        .filter(|r| !keep_set.contains(&r.hash))
        .collect();
    let drop_bytes: u64 = drop_only.iter().map(|r| u64::from(r.len)).sum();

    let marks = mark_all(&mut tx, &store, &[&keep]);

    // Dry run: the figures of the real sweep, and not one byte changed.
    let root_before = store.encode_root();
    let alloc_before = allocated(&mut tx);
    let dry_sweep = Sweep::dry_run(&store);
    let dry = sweep_all(&mut tx, &mut store, &marks, dry_sweep, 3);
    assert_eq!(dry.chunks, drop_only.len() as u64);
    assert_eq!(dry.bytes, drop_bytes);
    assert_eq!(store.encode_root(), root_before);
    assert_eq!(allocated(&mut tx), alloc_before);
    assert_eq!(
        common::get(&mut tx, &store, &drop, 1 << 20),
        drop_data,
        "dry run freed nothing"
    );

    // The real sweep, in small steps (one transaction each).
    let nodes_before = index_nodes(&mut tx, &store);
    tx.begin().unwrap();
    let epoch = store.begin_gc().unwrap();
    common::save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    let report = sweep_all(&mut tx, &mut store, &marks, Sweep::new(epoch), 3);
    assert_eq!(
        (report.chunks, report.bytes, report.blocks),
        (dry.chunks, dry.bytes, dry.blocks)
    );
    assert_eq!(report.scanned, (keep_set.len() + drop_only.len()) as u64);
    assert_eq!(
        store.stats().chunk_bytes,
        keep.iter().map(|r| u64::from(r.len)).sum::<u64>()
    );
    // Every block freed is a chunk extent or an index node merged away.
    let nodes_after = index_nodes(&mut tx, &store);
    assert_eq!(
        allocated(&mut tx) as u64,
        alloc_before as u64 - report.blocks - (nodes_before - nodes_after)
    );

    for r in &drop_only {
        assert!(
            !store.contains(&mut tx, &r.hash).unwrap(),
            "unmarked chunk kept"
        );
    }
    assert_eq!(common::get(&mut tx, &store, &keep, 1 << 20), keep_data);
    let check = store.check(&mut tx, true);
    assert!(
        check.is_clean(),
        "{:?} {:?}",
        check.tree.problems,
        check.problems
    );
}

fn index_nodes<T: Transactional>(tx: &mut T, store: &ContentStore) -> u64 {
    let mut nodes = 0;
    cowbtree::visit_node_blocks(tx, &store.root().index, |_| nodes += 1).unwrap();
    nodes
}

#[test]
fn chunks_put_during_gc_survive_unmarked() {
    let (mut tx, mut store) = common::new_store(8192);
    let old = common::put(&mut tx, &mut store, &common::noise(1 << 20, 3), 1 << 20, 1);
    tx.begin().unwrap();
    let epoch = store.begin_gc().unwrap();
    common::save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    // Marks taken now hold nothing (say, every file was deleted).
    let marks = ChunkMarks::new(tx.block_count());
    // An upload runs during the GC: new data, plus one old chunk again.
    let new_data = common::noise(600_000, 4);
    let new = common::put(&mut tx, &mut store, &new_data, 100_000, 2);
    let mut reput = content::ChunkWriter::new();
    let mut again = Vec::new();
    let old_first = common::get(&mut tx, &store, &old[..1], 1 << 20);
    tx.begin().unwrap();
    reput
        .write(&mut store, &mut tx, &old_first, |r| again.push(r))
        .unwrap();
    reput
        .finish(&mut store, &mut tx, |r| again.push(r))
        .unwrap();
    common::save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    assert_eq!(again, old[..1]);

    let report = sweep_all(&mut tx, &mut store, &marks, Sweep::new(epoch), 100);
    assert_eq!(
        report.chunks,
        old.len() as u64 - 1,
        "only the untouched old chunks go"
    );
    assert_eq!(common::get(&mut tx, &store, &new, 4096), new_data);
    assert_eq!(common::get(&mut tx, &store, &again, 4096), old_first);
    assert!(store.check(&mut tx, true).is_clean());
}
