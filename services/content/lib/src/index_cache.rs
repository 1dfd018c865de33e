//! [`IndexCache`]: the content service's cache of chunk-index nodes, kept
//! across requests, in front of its block device (the block service's
//! client inside the system, any [`Transactional`] in host tests).
//!
//! Why: a small put is two content requests that each walk the index from
//! its root; a cache emptied after every request read the same nodes from
//! the block service again each time (an IPC round trip, ~40k cycles, and
//! a copy per node: issue #13). Within a request the cache also holds the
//! request's node writes and sends each once, as a sealed node
//! ([`Transactional::write_verified`]: the block store takes the image's
//! CRC-32C off its seal rather than a pass over it).
//!
//! # The rule
//! The service holds no root: every request brings the store's root (96
//! bytes, [`ContentRoot`]). The cache remembers the root it is *valid
//! for*: the root the last request ended with (the root it answered, or
//! the one it came with if it answered none). A request whose root is not
//! byte-for-byte that root drops every image first ([`IndexCache::start`]).
//! A request that changed a block answers a root whose `changes` field is
//! one more than the root it came with ([`IndexCache::answer`]).
//! A failed request drops every image and forgets the root. Only images
//! that verify as cowbtree nodes bound to their block number are kept
//! (chunk data never is), and at most [`INDEX_CACHE_BLOCKS`] of them.
//!
//! # Why it is safe
//! Claim: when a request starts with the root the cache is valid for,
//! every kept image of a block reachable from that root is the block's
//! contents now. The store reads only blocks reachable from the request's
//! root (descents from it) and blocks it wrote in the same request; any
//! other kept image (a node copied away, freed, maybe reused) is never
//! read unless a later write or allocation of that block replaced or
//! dropped it, or a root reaching it again arrives, which is a different
//! root (below).
//! - During a request nobody else changes a block: the caller (the
//!   filesystem service, the transaction's holder) waits for the answer
//!   and no other client writes in its transaction. The cache's writes
//!   replace their images, frees and allocations drop them, and every held
//!   (dirty) write is sent before the answer ([`IndexCache::end`]): at the
//!   end of a successful request every image is current.
//! - Between requests the holder may write its own blocks, and free and
//!   reuse blocks no root it keeps reaches (its GC): never a block reachable
//!   from the content root it keeps. If it then sends that root, the images
//!   of its blocks are current.
//! - The holder may abort its transaction, and the block service may lose
//!   it (a restart, a crash): blocks return to their last committed state
//!   and the holder to the root committed with them, C. If C is the root
//!   the cache is valid for, no request since C changed a block: each one
//!   that did answered a root whose `changes` went one up, so the roots of
//!   its transaction after C carry C's `changes` plus 1 to k, never C's
//!   (k, the changing requests of one transaction, stays below 2^32). And
//!   the holder's own writes of that transaction were to blocks no root
//!   reached. So the blocks C reaches are as the cache saw them.
//! - Any other root (a pin of the index for GC, a pinned root a GC walk
//!   reads, the restore of an older root, another client's store) is not
//!   the root the cache is valid for: everything is dropped, and the new
//!   root's nodes are read again.
//! - A failed request sends none of its writes (the holder aborts) and
//!   drops everything; a restarted service starts empty.
//!
//! Dirty images exist only inside a request; when the cache is full with
//! no clean image to evict, the held writes are sent early (they belong to
//! the holder's open transaction either way).
//!
//! The images live in a [`block::ImageSlab`], as the filesystem's
//! `node_cache.rs` ones do: CLOCK (second chance) over a fixed slab, O(1)
//! amortized, no hasher (its doc says why it is hand-written). A dirty
//! image is *owed* there and cannot be evicted, and the held writes are
//! found in block order without a scan. Every kept image verified as a
//! node when it was kept, so a hit is served through
//! [`Transactional::read_verified`] as verified and the tree does not
//! checksum it again.

use alloc::vec::Vec;

use block::{Durability, Error, Extent, ImageSlab, SlotState, Transactional, BLOCK_SIZE};
use cowbtree::node::NodeView;

use crate::{ContentRoot, ContentStore};

/// Node images kept at most (4 KiB each: 1 MiB).
pub const INDEX_CACHE_BLOCKS: usize = 256;

type RootBytes = [u8; ContentRoot::ENCODED_LEN];

/// What the cache keeps with an image.
struct Image {
    /// Written in this request, not yet sent.
    dirty: bool,
}

impl SlotState for Image {
    fn owed(&self) -> bool {
        self.dirty
    }
    /// A held write stays until it is sent.
    fn evictable(&self) -> bool {
        !self.dirty
    }
}

/// Counts since the cache was made (for `stats` and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexCacheStats {
    /// Single-block reads served from the cache.
    pub hits: u64,
    /// Single-block reads sent to the device.
    pub misses: u64,
    /// Requests that came with a root the cache was not valid for (or
    /// followed a failed one): every image dropped.
    pub root_changes: u64,
    /// Hits copied into the reader's buffer (`read`, `read_verified`);
    /// the tree's walks are lent the image instead
    /// (`read_verified_with`).
    pub copied: u64,
}

/// A [`Transactional`] device with a cache of index nodes in front of it,
/// valid across requests by the rule of the module doc.
pub struct IndexCache<D> {
    /// The device. Calls made directly on it bypass the cache: the holder's
    /// own calls in tests, counters and gathered writes in the service.
    pub dev: D,
    slab: ImageSlab<Image>,
    /// The root the images are valid for (see the module doc).
    valid_for: Option<RootBytes>,
    /// The root the running request came with or answered.
    current: Option<RootBytes>,
    /// The running request wrote, allocated or freed a block.
    changed: bool,
    stats: IndexCacheStats,
}

impl<D: Transactional> IndexCache<D> {
    pub fn new(dev: D) -> Self {
        Self::with_capacity(dev, INDEX_CACHE_BLOCKS)
    }

    /// A cache of at most `capacity` images (at least one).
    pub fn with_capacity(dev: D, capacity: usize) -> Self {
        IndexCache {
            dev,
            slab: ImageSlab::new(capacity.max(1)),
            valid_for: None,
            current: None,
            changed: false,
            stats: IndexCacheStats::default(),
        }
    }

    pub fn stats(&self) -> IndexCacheStats {
        self.stats
    }

    /// Images held now.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// A request came with `root`: unless the cache is valid for exactly
    /// that root, its clean images go (a request's own writes stay).
    pub fn start(&mut self, root: &RootBytes) {
        if self.valid_for.as_ref() != Some(root) {
            self.valid_for = None;
            self.stats.root_changes += 1;
            self.drop_clean();
        }
        self.current = Some(*root);
    }

    /// The running request answers `store`'s root: marked changed
    /// ([`ContentStore::note_change`]) if the request wrote, allocated or
    /// freed a block. Returns the root to answer.
    pub fn answer(&mut self, store: &mut ContentStore) -> RootBytes {
        if self.changed {
            store.note_change();
        }
        let root = store.encode_root();
        self.current = Some(root);
        root
    }

    /// Ends a request: on success (`ok`) its held writes are sent (the
    /// caller may commit next) and the cache becomes valid for the root it
    /// ended with; on failure, or if sending fails, everything is dropped
    /// (the caller aborts).
    pub fn end(&mut self, ok: bool) -> Result<(), Error> {
        let sent = if ok { self.send_dirty() } else { Ok(()) };
        let current = self.current.take();
        let changed = core::mem::replace(&mut self.changed, false);
        if ok && sent.is_ok() {
            match current {
                Some(root) => self.valid_for = Some(root),
                // A request without a root that changed blocks: nothing
                // says which root they belong to.
                None if changed => self.forget_all(),
                None => {}
            }
        } else {
            self.forget_all();
        }
        sent
    }

    /// Drops every image and the root they were valid for.
    pub fn forget_all(&mut self) {
        self.valid_for = None;
        self.slab.clear();
    }

    fn drop_clean(&mut self) {
        self.slab.retain(|s| s.dirty);
    }

    /// Drops the images of blocks `first..first + count` (dirty ones too:
    /// a later write, fresh write or free wins).
    fn drop_range(&mut self, first: u64, count: u64) {
        self.slab.remove_range(first..first.saturating_add(count));
    }

    /// Sends the held writes, in block order, each as the sealed node it
    /// is ([`Transactional::write_verified`]): every kept image verified
    /// as a node bound to its block or was sealed for it by the tree, so
    /// the block store journals it under the CRC-32C read off its seal
    /// instead of a pass over its 4 KiB (the block client gathers the
    /// blocks into one call either way).
    fn send_dirty(&mut self) -> Result<(), Error> {
        let dirty: Vec<u64> = self.slab.owed_blocks().collect();
        for b in dirty {
            let mut sent = Ok(());
            let dev = &mut self.dev;
            self.slab.update(b, |image, s| {
                sent = dev.write_verified(b, &image[..]);
                s.dirty = sent.is_err();
            });
            sent?;
        }
        Ok(())
    }

    /// Keeps `image` (a node bound to `block`: verified by the caller or
    /// sealed by the tree) as `block`'s, `dirty` if not yet sent.
    fn keep(&mut self, block: u64, image: &[u8], dirty: bool) -> Result<(), Error> {
        let Ok(image) = <&[u8; BLOCK_SIZE]>::try_from(image) else {
            // Not one block (the callers check): not kept, a write sent now.
            return if dirty {
                self.dev.write(block, image)
            } else {
                Ok(())
            };
        };
        if self.slab.overwrite(block, image, |s| s.dirty |= dirty) {
            return Ok(());
        }
        let state = Image { dirty };
        if !self.slab.is_full() {
            self.slab.push(block, image, state);
            return Ok(());
        }
        if self.slab.owed_len() == self.slab.len() {
            // Full of this request's writes: send them early.
            self.send_dirty()?;
        }
        // CLOCK over the clean images (dirty ones are skipped; one is clean).
        match self.slab.victim() {
            Some(victim) => {
                self.slab.replace(victim, block, image, state);
                Ok(())
            }
            // Never (a clean image is there), but a write is not lost.
            None if dirty => self.dev.write_verified(block, image),
            None => Ok(()),
        }
    }
}

impl<D: Transactional> Transactional for IndexCache<D> {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }

    fn root_block(&self, slot: usize) -> u64 {
        self.dev.root_block(slot)
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() == BLOCK_SIZE {
            self.read_verified(first, buf)?;
            return Ok(());
        }
        // Bulk data (a chunk): read through, with any held block over it.
        self.dev.read(first, buf)?;
        let end = first.saturating_add((buf.len() / BLOCK_SIZE) as u64);
        for (b, image) in self.slab.range(first..end) {
            let at = (b - first) as usize * BLOCK_SIZE;
            buf[at..at + BLOCK_SIZE].copy_from_slice(&image[..]);
        }
        Ok(())
    }

    /// A hit, or a miss that verified as the node at `block` (now kept), is
    /// verified: the tree need not checksum it again.
    fn read_verified(&mut self, block: u64, buf: &mut [u8]) -> Result<bool, Error> {
        if buf.len() != BLOCK_SIZE {
            self.read(block, buf)?;
            return Ok(false);
        }
        if let Some(image) = self.slab.hit(block) {
            buf.copy_from_slice(&image[..]);
            self.stats.hits += 1;
            self.stats.copied += 1;
            return Ok(true);
        }
        self.dev.read(block, buf)?;
        self.stats.misses += 1;
        if NodeView::parse(block, buf).is_err() {
            return Ok(false); // not a node (chunk data, or damaged): not kept
        }
        self.keep(block, buf, false)?;
        Ok(true)
    }

    /// A hit is lent, not copied: the tree probes the kept image where it
    /// is (a walk of the index per chunk looked up or inserted copied
    /// each node on its way into a zeroed 4 KiB buffer: issue #13). A
    /// miss is read and kept as [`Transactional::read_verified`] does.
    fn read_verified_with(
        &mut self,
        block: u64,
        f: &mut dyn FnMut(&[u8], bool),
    ) -> Result<(), Error> {
        if let Some(image) = self.slab.hit(block) {
            self.stats.hits += 1;
            f(&image[..], true);
            return Ok(());
        }
        let mut buf = alloc::vec![0u8; BLOCK_SIZE];
        let verified = self.read_verified(block, &mut buf)?;
        f(&buf, verified);
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.forget_all();
        self.dev.begin()
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.changed = true;
        if data.len() == BLOCK_SIZE
            && first < self.dev.block_count()
            && NodeView::parse(first, data).is_ok()
        {
            return self.keep(first, data, true);
        }
        // Not a node, or several blocks: at once; what they cover goes.
        self.drop_range(first, (data.len() / BLOCK_SIZE).max(1) as u64);
        self.dev.write(first, data)
    }

    /// The tree's own sealed node (checksummed for this block a moment
    /// ago): held without checking it again.
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.changed = true;
        if data.len() == BLOCK_SIZE && block < self.dev.block_count() {
            return self.keep(block, data, true);
        }
        self.drop_range(block, (data.len() / BLOCK_SIZE).max(1) as u64);
        self.dev.write(block, data)
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.changed = true;
        self.drop_range(first, (data.len() / BLOCK_SIZE).max(1) as u64);
        self.dev.write_fresh(first, data)
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.changed = true;
        let e = self.dev.allocate(count)?;
        // A block handed out again: whatever image it had is not its.
        self.drop_range(e.start, e.len);
        Ok(e)
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.changed = true;
        self.drop_range(extent.start, extent.len);
        self.dev.free(extent)
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.dev.is_allocated(block)
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        if let Err(e) = self.send_dirty() {
            self.forget_all();
            return Err(e);
        }
        let done = self.dev.commit(durability);
        if done.is_err() {
            self.forget_all();
        }
        done
    }

    fn abort(&mut self) {
        self.forget_all();
        self.dev.abort()
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.send_dirty()?;
        self.dev.sync()
    }

    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        self.dev.free_blocks()
    }
}
