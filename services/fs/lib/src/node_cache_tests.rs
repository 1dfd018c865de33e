//! Unit tests of the node cache: hits, what is never kept, staleness,
//! capacity, and the owed images of `write_sealing` (rule 6).

use super::*;
use block::{BlockStore, Config, MemDevice};
use cowbtree::node::Node;

type Store = BlockStore<MemDevice>;

fn cache() -> NodeCache<Store> {
    let store = BlockStore::format(MemDevice::new(4096), Config::default()).unwrap();
    NodeCache::new(store)
}

/// A node image of `generation` bound to `block`.
fn node(block: u64, generation: u64) -> [u8; BLOCK_SIZE] {
    Node::empty_leaf(generation).encode(block)
}

fn read(c: &mut NodeCache<Store>, block: u64) -> [u8; BLOCK_SIZE] {
    let mut buf = [0u8; BLOCK_SIZE];
    c.read(block, &mut buf).unwrap();
    buf
}

/// Allocates a block and commits node generation 1 in it.
fn committed_node(c: &mut NodeCache<Store>) -> u64 {
    c.begin().unwrap();
    let b = c.allocate(1).unwrap().start;
    c.write(b, &node(b, 1)).unwrap();
    c.commit(Durability::Durable).unwrap();
    b
}

#[test]
fn a_second_read_of_a_node_is_a_hit() {
    let mut c = cache();
    let b = committed_node(&mut c);
    assert_eq!(read(&mut c, b), node(b, 1));
    assert_eq!(read(&mut c, b), node(b, 1));
    let s = c.stats();
    // The write kept the image: both reads hit.
    assert_eq!((s.hits, s.misses), (2, 0));
}

#[test]
fn blocks_that_are_not_nodes_are_never_kept() {
    let mut c = cache();
    c.begin().unwrap();
    let b = c.allocate(1).unwrap().start;
    // Chunk-like bytes, and a node bound to another block number.
    c.write(b, &[0x5A; BLOCK_SIZE]).unwrap();
    let other = c.allocate(1).unwrap().start;
    c.write(other, &node(b, 1)).unwrap();
    c.commit(Durability::Durable).unwrap();
    read(&mut c, b);
    read(&mut c, other);
    assert!(c.is_empty());
}

#[test]
fn a_freed_and_reused_block_is_read_again() {
    let mut c = cache();
    let b = committed_node(&mut c);
    assert_eq!(read(&mut c, b), node(b, 1));
    c.begin().unwrap();
    c.free(Extent { start: b, len: 1 }).unwrap();
    c.commit(Durability::Durable).unwrap();
    // Another owner (the content store, through the device itself)
    // takes the block and writes a new node into it.
    c.begin().unwrap();
    let raw: &mut Store = &mut c;
    let reused = loop {
        let e = raw.allocate(1).unwrap();
        if e.start == b {
            break e.start;
        }
    };
    raw.write(reused, &node(reused, 7)).unwrap();
    c.commit(Durability::Durable).unwrap();
    assert_eq!(read(&mut c, b), node(b, 7));
}

#[test]
fn an_aborted_transaction_leaves_no_image() {
    let mut c = cache();
    let b = committed_node(&mut c);
    assert_eq!(read(&mut c, b), node(b, 1));
    c.begin().unwrap();
    c.write(b, &node(b, 2)).unwrap();
    assert_eq!(read(&mut c, b), node(b, 2), "the transaction sees its own");
    let fresh = c.allocate(1).unwrap().start;
    c.write(fresh, &node(fresh, 3)).unwrap();
    assert_eq!(read(&mut c, fresh), node(fresh, 3));
    c.abort();
    assert_eq!(read(&mut c, b), node(b, 1));
    assert!(!c.slab.contains(fresh), "aborted image dropped");
}

#[test]
fn raw_access_drops_every_image() {
    let mut c = cache();
    let b = committed_node(&mut c);
    read(&mut c, b);
    assert_eq!(c.len(), 1);
    let raw = c.inner_mut();
    raw.begin().unwrap();
    raw.write(b, &node(b, 9)).unwrap();
    raw.commit(Durability::Durable).unwrap();
    assert_eq!(read(&mut c, b), node(b, 9));
}

#[test]
fn memory_stays_within_the_capacity() {
    let store = BlockStore::format(MemDevice::new(4096), Config::default()).unwrap();
    let mut c = NodeCache::with_capacity(store, 4);
    c.begin().unwrap();
    let e = c.allocate(10).unwrap();
    for b in e.start..e.start + e.len {
        c.write(b, &node(b, b)).unwrap();
    }
    c.commit(Durability::Durable).unwrap();
    for round in 0..3 {
        for b in e.start..e.start + e.len {
            assert_eq!(read(&mut c, b), node(b, b), "round {round}");
            assert!(c.len() <= 4 && c.slab.len() <= 4);
        }
    }
}

/// Writes an unsealed empty leaf of `generation` as the tree does.
fn write_unsealed(c: &mut NodeCache<Store>, block: u64, generation: u64) {
    let mut image = Node::empty_leaf(generation).encode_unsealed();
    c.write_sealing(block, &mut image, cowbtree::node::seal)
        .unwrap();
}

/// What the device itself holds at `block` (committed or the open
/// transaction's), past the cache.
fn device_image(c: &mut NodeCache<Store>, block: u64) -> [u8; BLOCK_SIZE] {
    let mut buf = [0u8; BLOCK_SIZE];
    let raw: &mut Store = c;
    raw.read(block, &mut buf).unwrap();
    buf
}

#[test]
fn a_node_rewritten_in_a_transaction_is_sealed_once_at_commit() {
    let mut c = cache();
    let b = committed_node(&mut c);
    c.begin().unwrap();
    for generation in 2..=5 {
        write_unsealed(&mut c, b, generation);
    }
    assert_eq!(c.stats().sealed, 0, "nothing sealed before the commit");
    assert_eq!(device_image(&mut c, b), node(b, 1), "the device not told");
    c.commit(Durability::Durable).unwrap();
    let s = c.stats();
    assert_eq!((s.sealing_writes, s.sealed, s.written_through), (4, 1, 1));
    // The device holds the last image, sealed: a fresh cache verifies it.
    assert_eq!(device_image(&mut c, b), node(b, 5));
    let mut fresh = NodeCache::new(c.into_inner());
    assert_eq!(read(&mut fresh, b), node(b, 5));
}

#[test]
fn an_owed_node_read_plainly_is_served_sealed() {
    let mut c = cache();
    c.begin().unwrap();
    let b = c.allocate(1).unwrap().start;
    write_unsealed(&mut c, b, 3);
    // A reader that checks checksums itself (the tree's fsck reads so).
    assert_eq!(read(&mut c, b), node(b, 3));
    c.commit(Durability::Durable).unwrap();
    assert_eq!(c.stats().sealed, 1, "sealed for the read, not again");
    assert_eq!(device_image(&mut c, b), node(b, 3));
}

#[test]
fn an_evicted_owed_node_reaches_the_device_sealed() {
    let store = BlockStore::format(MemDevice::new(4096), Config::default()).unwrap();
    let mut c = NodeCache::with_capacity(store, 2);
    c.begin().unwrap();
    let e = c.allocate(6).unwrap();
    for b in e.start..e.start + e.len {
        write_unsealed(&mut c, b, b);
    }
    c.commit(Durability::Durable).unwrap();
    let s = c.stats();
    assert_eq!((s.sealed, s.written_through), (6, 6));
    for b in e.start..e.start + e.len {
        assert_eq!(device_image(&mut c, b), node(b, b), "block {b}");
    }
}

#[test]
fn an_aborted_owed_node_never_reaches_the_device() {
    let mut c = cache();
    let b = committed_node(&mut c);
    c.begin().unwrap();
    write_unsealed(&mut c, b, 2);
    c.abort();
    assert_eq!(read(&mut c, b), node(b, 1));
    assert_eq!(c.stats().written_through, 0);
}

#[test]
fn raw_access_mid_transaction_writes_owed_nodes_first() {
    let mut c = cache();
    c.begin().unwrap();
    let b = c.allocate(1).unwrap().start;
    write_unsealed(&mut c, b, 4);
    let _ = c.inner_mut();
    c.commit(Durability::Durable).unwrap();
    assert_eq!(read(&mut c, b), node(b, 4));
}

#[test]
fn outside_a_transaction_a_sealing_write_is_sealed_at_once() {
    let mut c = cache();
    let b = committed_node(&mut c);
    // A device that is not in a transaction refuses the write; the cache
    // sealed it first all the same and keeps nothing owed.
    let mut image = Node::empty_leaf(2).encode_unsealed();
    let _refused = c.write_sealing(b, &mut image, cowbtree::node::seal);
    assert_eq!(image, node(b, 2), "sealed in the caller's buffer");
    assert_eq!(c.stats().written_through, 0);
}
