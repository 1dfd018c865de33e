//! GC's walk of the chunk index is linear (issue #12): `visit_blocks_page`
//! resumes after the last key of the previous page instead of skipping a
//! count from the start, so a walk in many small pages reads each index
//! node about once, and reports every node and chunk extent exactly once.

mod common;

use std::collections::BTreeMap;

use block::{Durability, Error, Extent, Transactional};
use common::{new_store, save_root};

/// Delegates to the block store, counting block reads.
struct Counting<'a, T> {
    inner: &'a mut T,
    reads: u64,
}

impl<T: Transactional> Transactional for Counting<'_, T> {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        self.inner.root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.reads += (buf.len() / block::BLOCK_SIZE) as u64;
        self.inner.read(first, buf)
    }
    fn begin(&mut self) -> Result<(), Error> {
        self.inner.begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.inner.write(first, data)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.inner.write_fresh(first, data)
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.inner.allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.inner.free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.inner.is_allocated(block)
    }
    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.inner.commit(durability)
    }
    fn abort(&mut self) {
        self.inner.abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        self.inner.sync()
    }
}

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
    let mut counting = Counting {
        inner: &mut tx,
        reads: 0,
    };
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
        counting.reads,
        pages * nodes / 2
    );
    assert!(
        counting.reads <= bound,
        "{} reads > {bound}",
        counting.reads
    );
}

fn cowbtree_nodes<T: Transactional>(tx: &mut T, store: &content::ContentStore, n: &mut u64) {
    cowbtree::visit_node_blocks(tx, &store.root().index, |_| *n += 1).unwrap();
}
