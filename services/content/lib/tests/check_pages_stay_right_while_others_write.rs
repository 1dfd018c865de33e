//! The store's check in pages (`check_page`, `check_end`): on a store
//! that does not change it finds what the one-call `check` finds (a
//! damaged entry, an overlap, counters out of step), a page reads at most
//! the index nodes it is given; with puts and sweeps between pages it
//! reports no false problem and checks every chunk that stayed.

mod common;

use block::{Durability, Transactional};
use content::{ChunkMarks, ContentRoot, ContentStore, Findings, IndexEntry, PagedCheck, Sweep};

/// Many chunks (small ones, so the index has many leaves).
fn store_with_chunks() -> (common::Store, ContentStore) {
    let (mut tx, mut store) = common::new_store(16384);
    for i in 0..40 {
        common::put(
            &mut tx,
            &mut store,
            &common::noise(1_000_000, 100 + i),
            250_000,
            4,
        );
    }
    (tx, store)
}

/// Every page, with `between` run before each page after the first;
/// `unchanged` told to `check_end`. Answers all findings and the pages.
fn paged(
    tx: &mut common::Store,
    store: &mut ContentStore,
    unchanged: bool,
    verify: bool,
    between: &mut dyn FnMut(&mut common::Store, &mut ContentStore, usize),
) -> (Findings, Option<String>, usize, u64) {
    let mut run = PagedCheck::new(tx.block_count(), verify);
    let mut all = Findings::default();
    let mut pages = 0;
    while !run.is_done() {
        if pages > 0 {
            between(tx, store, pages);
        }
        let found = store.check_page(tx, &mut run, PAGE);
        for t in found.texts {
            all.push(t);
        }
        pages += 1;
    }
    let (end, note) = store.check_end(&run, unchanged);
    for t in end.texts {
        all.push(t);
    }
    (all, note, pages, run.chunks())
}

/// Index nodes per page here (the service's pages are bigger; a store
/// big enough to need many of those would make a slow test).
const PAGE: usize = 3;

fn no_change(_: &mut common::Store, _: &mut ContentStore, _: usize) {}

#[test]
fn pages_of_an_unchanging_store_find_what_the_one_call_check_finds() {
    let (mut tx, mut store) = store_with_chunks();
    let whole = store.check(&mut tx, true);
    assert!(whole.is_clean(), "{:?}", whole.problems);
    let (found, note, pages, chunks) = paged(&mut tx, &mut store, true, true, &mut no_change);
    assert!(found.is_clean(), "{:?}", found.texts);
    assert!(note.is_none());
    assert_eq!(chunks, whole.chunks);
    assert!(pages > 2, "{pages} pages: the index should span several");

    // An entry overlapping another chunk, counters not updated.
    let mut extents = Vec::new();
    store.visit_blocks(&mut tx, |e| extents.push(e)).unwrap();
    let victim = *extents.iter().find(|e| e.len > 1).unwrap();
    let mut root: ContentRoot = *store.root();
    tx.begin().unwrap();
    let entry = IndexEntry {
        start: victim.start,
        len: 4096,
        epoch: 0,
    };
    cowbtree::insert(&mut tx, &mut root.index, &[0x44; 32], &entry.encode()).unwrap();
    tx.commit(Durability::Durable).unwrap();
    let mut bad = ContentStore::open(&root.encode()).unwrap();
    let whole = bad.check(&mut tx, false);
    let (found, _, _, _) = paged(&mut tx, &mut bad, true, false, &mut no_change);
    assert_eq!(found.count, whole.problem_count, "{:?}", found.texts);
    assert!(found.texts.iter().any(|t| t.contains("is also used")));
    assert!(found.texts.iter().any(|t| t.starts_with("counters say")));
}

#[test]
fn a_page_reads_a_bounded_number_of_index_nodes() {
    let (mut tx, store) = store_with_chunks();
    let mut run = PagedCheck::new(tx.block_count(), false);
    let nodes = store.index_blocks(&mut tx).unwrap();
    let mut pages = 0u64;
    while !run.is_done() {
        store.check_page(&mut tx, &mut run, PAGE);
        pages += 1;
    }
    // Each page reads at most PAGE nodes, so covering every node takes at
    // least this many pages.
    assert!(
        pages >= nodes.div_ceil(PAGE as u64),
        "{nodes} nodes in {pages} pages"
    );
}

#[test]
fn puts_and_sweeps_between_pages_give_no_false_problems() {
    let (mut tx, mut store) = store_with_chunks();
    let before = store.check(&mut tx, false).chunks;
    // Between pages: more puts, and a collection that keeps nothing older
    // than its epoch (every chunk of before is swept, in steps).
    let mut gc: Option<(ChunkMarks, Sweep)> = None;
    let mut between = |tx: &mut common::Store, store: &mut ContentStore, page: usize| {
        common::put(
            tx,
            store,
            &common::noise(60_000, 1000 + page as u64),
            20_000,
            1,
        );
        let (marks, sweep) = gc.get_or_insert_with(|| {
            tx.begin().unwrap();
            let epoch = store.begin_gc().unwrap();
            common::save_root(tx, store);
            tx.commit(Durability::Durable).unwrap();
            (ChunkMarks::new(tx.block_count()), Sweep::new(epoch))
        });
        tx.begin().unwrap();
        store.sweep_step(tx, marks, sweep, 8).unwrap();
        common::save_root(tx, store);
        tx.commit(Durability::Durable).unwrap();
    };
    let (found, note, pages, _) = paged(&mut tx, &mut store, false, true, &mut between);
    assert!(pages > 2);
    assert!(found.is_clean(), "false problems: {:?}", found.texts);
    assert!(note.is_some(), "a changed store's totals are not compared");
    // The store is sound after it all, and the one-call check agrees.
    assert!(store.check(&mut tx, true).is_clean());
    assert_ne!(store.check(&mut tx, false).chunks, before);
}
