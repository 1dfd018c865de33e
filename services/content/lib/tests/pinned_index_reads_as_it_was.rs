//! The owner's block GC walks the chunk index in pages while chunks are
//! put and swept (issue #12): `pin_index` takes a copy-on-write snapshot of
//! the index root. After thousands of puts (splitting every node, the
//! root too) and a sweep (removing entries, merging nodes), committed
//! between the pages, the pinned root walks exactly the extents the store
//! had when pinned, every one of them still allocated, while the store
//! itself checks clean with its new entries.

mod common;

use std::collections::BTreeSet;

use block::{Durability, Extent, Transactional};
use common::{new_store, save_root};
use content::{ChunkMarks, Sweep};

fn extents<T: Transactional>(tx: &mut T, store: &content::ContentStore) -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    store
        .visit_blocks(tx, |e: Extent| {
            out.insert((e.start, e.len));
        })
        .unwrap();
    out
}

#[test]
fn a_pinned_index_walks_as_it_was_while_the_store_changes() {
    let (mut tx, mut store) = new_store(32_768);
    tx.begin().unwrap();
    for i in 0u32..600 {
        store.put_chunk(&mut tx, &i.to_le_bytes()).unwrap();
    }
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    let before = extents(&mut tx, &store);

    tx.begin().unwrap();
    let pinned = store.pin_index().unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();

    let mut seen = BTreeSet::new();
    let mut after = None;
    let mut round = 0u32;
    loop {
        // A page of the pinned walk, then changes committed.
        let next = pinned
            .visit_blocks_page(&mut tx, after.as_ref(), 8, |e| {
                assert!(seen.insert((e.start, e.len)), "{e:?} twice");
            })
            .unwrap();
        tx.begin().unwrap();
        for i in 0..100 {
            let n = 1_000_000 + round * 100 + i;
            store.put_chunk(&mut tx, &n.to_le_bytes()).unwrap();
        }
        if round == 5 {
            // Sweep everything older than this epoch (nothing marked): the
            // first 600 chunks and the 600 put so far go, and whole nodes
            // with them.
            let epoch = store.begin_gc().unwrap();
            let marks = ChunkMarks::new(tx.block_count());
            let mut sweep = Sweep::new(epoch);
            while !sweep.is_done() {
                store.sweep_step(&mut tx, &marks, &mut sweep, 64).unwrap();
            }
            assert_eq!(sweep.report.chunks, 1200, "{:?}", sweep.report);
        }
        save_root(&mut tx, &store);
        tx.commit(Durability::Durable).unwrap();
        round += 1;
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert!(round > 20, "only {round} pages");
    assert_eq!(seen, before, "the pinned walk is the index as pinned");
    // Its index nodes were neither rewritten (the walk verified each) nor
    // freed (the sweep freed only the chunks' data and nodes the store
    // alone owned).
    let mut nodes = Vec::new();
    cowbtree::visit_node_blocks(&mut tx, &pinned.root().index, |b| nodes.push(b)).unwrap();
    assert!(nodes.len() > 5, "{} nodes", nodes.len());
    for b in nodes {
        assert!(tx.is_allocated(b).unwrap(), "pinned node {b} freed");
    }
    let report = store.check(&mut tx, true);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(store.root().chunks, u64::from(100 * (round - 6)));
}
