//! Shared test set-up: a transactional store on an in-memory device.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Bound;

use block::Transactional;
use cowbtree::TreeRoot;

pub type Store = block::BlockStore<block::MemDevice>;

/// Journal and cache sizes for tests: transactions of a few hundred nodes.
pub fn config() -> block::Config {
    block::Config {
        cache_blocks: 1024,
        journal_blocks: 1024,
        group_commit_blocks: 256,
    }
}

/// A freshly formatted store of `blocks` blocks on an in-memory device.
pub fn new_store(blocks: u64) -> Store {
    block::BlockStore::format(block::MemDevice::new(blocks), config()).expect("format")
}

/// Every pair of the tree, in order, through a cursor.
pub fn scan<T: Transactional>(tx: &mut T, root: &TreeRoot) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut prev: Option<Vec<u8>> = None;
    for pair in cowbtree::range(tx, root, Bound::Unbounded, Bound::Unbounded).unwrap() {
        let (k, v) = pair.unwrap();
        if let Some(p) = &prev {
            assert!(p < &k, "cursor returned keys out of order");
        }
        prev = Some(k.clone());
        out.insert(k, v);
    }
    out
}
