//! A bounded cache of committed tree nodes above the block layer.
//!
//! Why: in the fs service every block read is an IPC round trip to the
//! block service (~38,000 cycles under QEMU's TCG), and a small put walks
//! the same upper tree nodes again for each of its ~8 path components:
//! ~100 of its ~146 block calls were reads of nodes already read. The
//! filesystem's device is wrapped in a [`NodeCache`], which keeps up to
//! [`NODE_CACHE_BLOCKS`] verified node images (1 MiB) keyed by block number.
//!
//! # Invariant
//! A cached image is the committed contents of its block, or the open
//! transaction's own contents marked *pending*. Enforced by:
//! 1. Only 4 KiB single-block reads and writes that verify as a cowbtree
//!    node *bound to that block number* (crc32c over the block number) are
//!    kept; anything else (the root block, chunk data) is never cached. In
//!    the fs the content store's calls reach the inner device directly
//!    (deref coercion to `&mut T`), never this cache: chunk blocks belong
//!    to the content store and are never cached here.
//! 2. Every write, fresh write, allocation and free through the cache drops
//!    or replaces the images of the blocks it names, so a freed block's
//!    image cannot be served after the block is reused.
//! 3. Images read or written inside a transaction are pending: a commit
//!    makes them committed, an abort drops them; a failed commit or sync
//!    drops everything (the commit may or may not be on disk).
//! 4. Raw access to the device ([`NodeCache::inner_mut`], used for reports
//!    and counters) drops everything, and a remount (the service mounts
//!    again after the block service's restart) builds a new cache.
//! 5. Snapshot restore only changes which root is live: nodes a snapshot
//!    shares are never written, so their images stay true; GC frees through
//!    this cache (2).
//!
//! Every image is verified when it is kept (`NodeView::parse`: checksum
//! bound to the block number, bounds, key order), so a hit is served
//! through [`Transactional::read_verified`] as verified and the tree does
//! not checksum it again (`NodeView::parse_verified` still checks every
//! bound). That check was ~75% of a small put's tree CPU: each put reads
//! ~120 nodes, nearly all hits (issue #13, docs/speed.md). An image in
//! this process's memory is as trusted as the decoded state next to it; a
//! block read from the device (a miss) is verified as before, once. A node
//! the tree writes through [`Transactional::write_verified`] was sealed for
//! its block by the tree a moment before and is kept without a second
//! checksum; a plain `write` of a block is verified before it is kept.
//! The replacement policy is CLOCK (second chance) over a fixed slab: simple,
//! no hashing, O(1) amortized; hand-written because it is 40 lines and the
//! crates made for it (`lru`, `quick_cache`) bring a hasher and unbounded
//! growth options this `no_std` service does not need.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use block::{Durability, Error, Extent, Transactional, BLOCK_SIZE};
use cowbtree::node::NodeView;

/// Node images kept at most (4 KiB each: 1 MiB).
pub const NODE_CACHE_BLOCKS: usize = 256;

struct Slot {
    block: u64,
    image: Box<[u8; BLOCK_SIZE]>,
    /// Read or written by the open transaction: dropped if it aborts.
    pending: bool,
    /// CLOCK's reference bit.
    referenced: bool,
}

/// Hits and misses since the cache was made (for `stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Images dropped by writes, frees, aborts and raw access.
    pub dropped: u64,
    /// Hits copied into the reader's buffer (`read`, `read_verified`);
    /// the other hits were lent (`read_verified_with`: no copy).
    pub copied: u64,
}

/// A [`Transactional`] device with a cache of tree nodes in front of it.
pub struct NodeCache<T> {
    inner: T,
    slots: Vec<Slot>,
    index: BTreeMap<u64, usize>,
    hand: usize,
    in_txn: bool,
    capacity: usize,
    stats: NodeCacheStats,
}

impl<T: Transactional> NodeCache<T> {
    pub fn new(inner: T) -> Self {
        Self::with_capacity(inner, NODE_CACHE_BLOCKS)
    }

    /// A cache of at most `capacity` nodes (0: no caching).
    pub fn with_capacity(inner: T, capacity: usize) -> Self {
        NodeCache {
            inner,
            slots: Vec::new(),
            index: BTreeMap::new(),
            hand: 0,
            in_txn: false,
            capacity,
            stats: NodeCacheStats::default(),
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The device itself; drops every image, since a caller may write
    /// through it behind the cache's back.
    pub fn inner_mut(&mut self) -> &mut T {
        self.drop_all();
        &mut self.inner
    }

    pub fn stats(&self) -> NodeCacheStats {
        self.stats
    }

    /// Images held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Drops every image.
    pub fn drop_all(&mut self) {
        self.stats.dropped += self.index.len() as u64;
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }

    /// Drops the images of blocks `first..first + count`.
    fn drop_range(&mut self, first: u64, count: u64) {
        let end = first.saturating_add(count);
        let gone: Vec<u64> = self.index.range(first..end).map(|(b, _)| *b).collect();
        for b in gone {
            self.drop_block(b);
        }
    }

    fn drop_block(&mut self, block: u64) {
        let Some(i) = self.index.remove(&block) else {
            return;
        };
        self.stats.dropped += 1;
        // Keep the slab dense: move the last slot into the hole.
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.block, i);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
    }

    /// Keeps `image` as block `block`'s if it is a node bound to `block`;
    /// returns whether it is (verified, and kept).
    fn keep(&mut self, block: u64, image: &[u8]) -> bool {
        if self.capacity == 0 || NodeView::parse(block, image).is_err() {
            return false;
        }
        self.keep_verified(block, image)
    }

    /// Keeps `image`, a node bound to `block` (verified by the caller, or
    /// sealed by the tree for this block: `write_verified`).
    fn keep_verified(&mut self, block: u64, image: &[u8]) -> bool {
        if self.capacity == 0 || image.len() != BLOCK_SIZE {
            return false;
        }
        let pending = self.in_txn;
        if let Some(&i) = self.index.get(&block) {
            let s = &mut self.slots[i];
            s.image.copy_from_slice(image);
            s.pending = pending;
            s.referenced = true;
            return true;
        }
        if self.slots.len() < self.capacity {
            // Copied, not zeroed then copied (the length is checked above).
            let Ok(boxed) = Box::<[u8; BLOCK_SIZE]>::try_from(image.to_vec().into_boxed_slice())
            else {
                return false;
            };
            self.index.insert(block, self.slots.len());
            self.slots.push(Slot {
                block,
                image: boxed,
                pending,
                referenced: false,
            });
            return true;
        }
        // CLOCK: the first slot not referenced since the hand last passed.
        let victim = loop {
            let s = &mut self.slots[self.hand];
            if !s.referenced {
                break self.hand;
            }
            s.referenced = false;
            self.hand = (self.hand + 1) % self.slots.len();
        };
        self.hand = (victim + 1) % self.slots.len();
        let s = &mut self.slots[victim];
        self.index.remove(&s.block);
        s.block = block;
        s.image.copy_from_slice(image);
        s.pending = pending;
        s.referenced = false;
        self.index.insert(block, victim);
        true
    }

    /// The transaction ended: `committed` images become committed, or
    /// pending ones are dropped.
    fn end_txn(&mut self, committed: bool) {
        self.in_txn = false;
        if committed {
            for s in &mut self.slots {
                s.pending = false;
            }
            return;
        }
        let gone: Vec<u64> = self
            .slots
            .iter()
            .filter(|s| s.pending)
            .map(|s| s.block)
            .collect();
        for b in gone {
            self.drop_block(b);
        }
    }
}

impl<T: Transactional> Transactional for NodeCache<T> {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }

    fn root_block(&self, slot: usize) -> u64 {
        self.inner.root_block(slot)
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() == BLOCK_SIZE {
            self.read_verified(first, buf)?;
            return Ok(());
        }
        self.inner.read(first, buf)
    }

    /// A hit, or a miss whose image verified as the node at `block` (and
    /// is now kept), is verified: the tree need not checksum it again.
    fn read_verified(&mut self, block: u64, buf: &mut [u8]) -> Result<bool, Error> {
        if buf.len() != BLOCK_SIZE {
            self.inner.read(block, buf)?;
            return Ok(false);
        }
        if let Some(&i) = self.index.get(&block) {
            let s = &mut self.slots[i];
            s.referenced = true;
            buf.copy_from_slice(&s.image[..]);
            self.stats.hits += 1;
            self.stats.copied += 1;
            return Ok(true);
        }
        self.inner.read(block, buf)?;
        self.stats.misses += 1;
        Ok(self.keep(block, buf))
    }

    /// A hit lends the cached image itself: no copy.
    fn read_verified_with(
        &mut self,
        block: u64,
        f: &mut dyn FnMut(&[u8], bool),
    ) -> Result<(), Error> {
        if let Some(&i) = self.index.get(&block) {
            let s = &mut self.slots[i];
            s.referenced = true;
            self.stats.hits += 1;
            f(&s.image[..], true);
            return Ok(());
        }
        let mut buf = alloc::vec![0u8; BLOCK_SIZE];
        self.inner.read(block, &mut buf)?;
        self.stats.misses += 1;
        let verified = self.keep(block, &buf);
        f(&buf, verified);
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.inner.begin()?;
        self.in_txn = true;
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let count = (data.len() / BLOCK_SIZE) as u64;
        self.drop_range(first, count.max(1));
        self.inner.write(first, data)?;
        if data.len() == BLOCK_SIZE {
            let _kept = self.keep(first, data);
        }
        Ok(())
    }

    /// The tree's own sealed node: kept without checking it again (it was
    /// checksummed for this block a moment ago, by the same code a read
    /// verifies with).
    /// A cached image of `block` is overwritten in its slot (dropping it
    /// and keeping the node again cost an allocation per node written).
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() != BLOCK_SIZE {
            self.drop_range(block, (data.len() / BLOCK_SIZE).max(1) as u64);
            return self.inner.write(block, data);
        }
        if let Err(e) = self.inner.write(block, data) {
            self.drop_block(block);
            return Err(e);
        }
        if !self.keep_verified(block, data) {
            self.drop_block(block);
        }
        Ok(())
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let count = (data.len() / BLOCK_SIZE) as u64;
        self.drop_range(first, count.max(1));
        self.inner.write_fresh(first, data)?;
        if data.len() == BLOCK_SIZE {
            let _kept = self.keep(first, data);
        }
        Ok(())
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        let e = self.inner.allocate(count)?;
        self.drop_range(e.start, e.len);
        Ok(e)
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.drop_range(extent.start, extent.len);
        self.inner.free(extent)
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.inner.is_allocated(block)
    }

    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        self.inner.free_blocks()
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        match self.inner.commit(durability) {
            Ok(()) => {
                self.end_txn(true);
                Ok(())
            }
            Err(e) => {
                self.in_txn = false;
                self.drop_all();
                Err(e)
            }
        }
    }

    fn abort(&mut self) {
        self.inner.abort();
        self.end_txn(false);
    }

    fn sync(&mut self) -> Result<(), Error> {
        let r = self.inner.sync();
        if r.is_err() {
            // Batched commits may be lost: their images with them.
            self.drop_all();
        }
        r
    }
}

/// Read-only access to the device's own methods (counters, geometry).
impl<T> Deref for NodeCache<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

/// The content store's calls (`Chunks<T>` takes `&mut T`) reach the device
/// through this, never the cache. Writes through it must stay off blocks
/// the cache may hold: only the content store's own blocks (rule 1).
impl<T> DerefMut for NodeCache<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
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
        assert!(!c.index.contains_key(&fresh), "aborted image dropped");
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
                assert!(c.len() <= 4 && c.slots.len() <= 4);
            }
        }
    }
}
