//! GC's walk of the chunk index is linear (issue #12): `visit_blocks_page`
//! resumes after the last key of the previous page instead of skipping a
//! count from the start, so a walk in many small pages reads each index
//! node about once, and reports every node and chunk extent exactly once.

mod common;

use std::collections::BTreeMap;

use block::{Durability, Transactional};
use common::{new_store, save_root};
use testkit::CountingReads;

#[test]
fn paged_walk_reads_each_node_once_and_reports_each_extent_once() {
    let (mut tx, mut store) = new_store(16_384);
    // Many small chunks: an index several levels deep.
    tx.begin().unwrap();
    for i in 0u32..6000 {
        store.put_chunk(&mut tx, &i.to_le_bytes()).unwrap();
    }
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();

    let mut nodes = 0u64;
    cowbtree_nodes(&mut tx, &store, &mut nodes);
    assert!(nodes > 50, "only {nodes} index nodes");
    let height = u64::from(store.root().index.height);
    assert!(height >= 2);

    // One walk in one page: the reference set of extents.
    let mut whole: BTreeMap<u64, u64> = BTreeMap::new();
    store
        .visit_blocks(&mut tx, |e| *whole.entry(e.start).or_default() += 1)
        .unwrap();
    assert_eq!(whole.len() as u64, nodes + 6000);
    assert!(whole.values().all(|&n| n == 1));

    // Pages of 16 extents, counting block reads.
    let mut counting = CountingReads::new(&mut tx);
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut after = None;
    let mut pages = 0u64;
    loop {
        pages += 1;
        let next = store
            .visit_blocks_page(&mut counting, after.as_ref(), 16, |e| {
                *seen.entry(e.start).or_default() += 1
            })
            .unwrap();
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert_eq!(seen, whole, "every extent exactly once");
    // Each node once, plus one path down per page to resume.
    let bound = nodes + pages * height;
    println!(
        "{} pages, {nodes} nodes, height {height}: {} node reads (bound {bound}; skip paging reads about {})",
        pages,
        counting.blocks,
        pages * nodes / 2
    );
    assert!(
        counting.blocks <= bound,
        "{} reads > {bound}",
        counting.blocks
    );
}

fn cowbtree_nodes<T: Transactional>(tx: &mut T, store: &content::ContentStore, n: &mut u64) {
    cowbtree::visit_node_blocks(tx, &store.root().index, |_| *n += 1).unwrap();
}
