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
//! 6. A node the tree writes through [`Transactional::write_sealing`]
//!    inside a transaction is kept *owed*: its checksum not yet written,
//!    the device not yet told. Only this cache holds it, so it is never
//!    dropped while the transaction may still commit: it is sealed and
//!    written through before the commit, when it is evicted, and before
//!    raw access (4), and sealed before a plain `read` serves it; a later
//!    write, fresh write or free of the block supersedes it, an abort
//!    drops it. A write through that fails fails the commit (nothing of
//!    the transaction commits).
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
//! Nodes written through `write_sealing` are sealed here, once per block
//! per transaction (rule 6): a small put writes ~17 node images but only
//! ~7 blocks, and each seal is a CRC-32C of 4 KiB (docs/speed.md).
//! The images live in a [`block::ImageSlab`], as the content service's
//! index cache's do: CLOCK (second chance) over a fixed slab, simple, no
//! hashing, O(1) amortized (its doc says why it is hand-written). Every
//! slot is evictable: an owed victim is written through first. The slab
//! keeps the owed blocks in block order, so a commit finds them without
//! a scan of every image.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use block::{Durability, Error, Extent, ImageSlab, SealFn, SlotState, Transactional, BLOCK_SIZE};
use cowbtree::node::NodeView;

/// Node images kept at most (4 KiB each: 1 MiB).
pub const NODE_CACHE_BLOCKS: usize = 256;

/// What the cache keeps with an image.
#[derive(Clone, Copy)]
struct Image {
    /// Read or written by the open transaction: dropped if it aborts.
    pending: bool,
    /// What the device still lacks of this image (the open transaction's).
    owed: Owed,
}

impl SlotState for Image {
    fn owed(&self) -> bool {
        !matches!(self.owed, Owed::Nothing)
    }
    /// An owed victim is written through before its slot is reused.
    fn evictable(&self) -> bool {
        true
    }
}

/// An image the open transaction wrote but the device has not seen yet
/// ([`Transactional::write_sealing`]): written through at commit or when
/// evicted, so a node rewritten several times in one transaction is
/// sealed and sent once.
#[derive(Clone, Copy)]
enum Owed {
    /// The device holds this image.
    Nothing,
    /// Sealed, not yet written to the device.
    Write,
    /// To be sealed (its checksum field is stale) and written.
    SealAndWrite(SealFn),
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
    /// Node images the tree wrote to be sealed by the device
    /// (`write_sealing`), in a transaction or not.
    pub sealing_writes: u64,
    /// Images the cache sealed for the tree when they left for the device
    /// (`write_sealing`: once per block per transaction, not per write).
    pub sealed: u64,
    /// Images written through to the device at commit or eviction.
    pub written_through: u64,
}

/// A [`Transactional`] device with a cache of tree nodes in front of it.
pub struct NodeCache<T> {
    inner: T,
    slab: ImageSlab<Image>,
    in_txn: bool,
    stats: NodeCacheStats,
    /// An owed image failed to reach the device outside a call that could
    /// report it ([`NodeCache::inner_mut`]): the commit fails with it.
    failed: Option<Error>,
}

impl<T: Transactional> NodeCache<T> {
    pub fn new(inner: T) -> Self {
        Self::with_capacity(inner, NODE_CACHE_BLOCKS)
    }

    /// A cache of at most `capacity` nodes (0: no caching).
    pub fn with_capacity(inner: T, capacity: usize) -> Self {
        NodeCache {
            inner,
            slab: ImageSlab::new(capacity),
            in_txn: false,
            stats: NodeCacheStats::default(),
            failed: None,
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The device itself; drops every image, since a caller may write
    /// through it behind the cache's back. Images the open transaction
    /// still owes the device are written first (a failure fails its
    /// commit).
    pub fn inner_mut(&mut self) -> &mut T {
        if let Err(e) = self.write_through_all() {
            self.failed.get_or_insert(e);
        }
        self.drop_all();
        &mut self.inner
    }

    pub fn stats(&self) -> NodeCacheStats {
        self.stats
    }

    /// Images held now.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Drops every image (the open transaction's owed ones with them: only
    /// where the transaction is lost, or after [`Self::write_through_all`]).
    fn drop_all(&mut self) {
        self.stats.dropped += self.slab.clear() as u64;
    }

    /// Drops the images of blocks `first..first + count`.
    fn drop_range(&mut self, first: u64, count: u64) {
        let end = first.saturating_add(count);
        self.stats.dropped += self.slab.remove_range(first..end) as u64;
    }

    fn drop_block(&mut self, block: u64) {
        if self.slab.remove(block) {
            self.stats.dropped += 1;
        }
    }

    /// Keeps `image` as block `block`'s if it is a node bound to `block`;
    /// returns whether it is (verified, and kept).
    fn keep(&mut self, block: u64, image: &[u8]) -> Result<bool, Error> {
        if self.slab.capacity() == 0 || NodeView::parse(block, image).is_err() {
            return Ok(false);
        }
        self.keep_verified(block, image, Owed::Nothing)
    }

    /// Keeps `image`, a node bound to `block` (verified by the caller, or
    /// built by the tree for this block: `write_verified`,
    /// `write_sealing`), with what the device still lacks of it. Fails
    /// only when an evicted image owed to the device cannot be written.
    fn keep_verified(&mut self, block: u64, image: &[u8], owed: Owed) -> Result<bool, Error> {
        if self.slab.capacity() == 0 {
            return Ok(false);
        }
        let Ok(image) = <&[u8; BLOCK_SIZE]>::try_from(image) else {
            return Ok(false);
        };
        let state = Image {
            pending: self.in_txn,
            owed,
        };
        if self.slab.overwrite(block, image, |s| *s = state) {
            return Ok(true);
        }
        if !self.slab.is_full() {
            return Ok(self.slab.push(block, image, state));
        }
        // CLOCK: the first slot not used since the hand last passed (every
        // slot is evictable: there is one).
        let Some(victim) = self.slab.victim() else {
            return Ok(false);
        };
        // A victim the transaction still owes the device leaves for it now.
        self.write_through(victim)?;
        Ok(self.slab.replace(victim, block, image, state))
    }

    /// Seals `block`'s image if it is owed unsealed (a plain `read` then
    /// sees a valid node, as the device would serve it).
    fn seal(&mut self, block: u64) {
        let sealed = self.slab.update(block, |image, s| {
            let Owed::SealAndWrite(seal) = s.owed else {
                return false;
            };
            seal(block, image);
            s.owed = Owed::Write;
            true
        });
        if sealed == Some(true) {
            self.stats.sealed += 1;
        }
    }

    /// Writes `block`'s image to the device if the device still lacks it.
    fn write_through(&mut self, block: u64) -> Result<(), Error> {
        self.seal(block);
        if !matches!(self.slab.state(block).map(|s| s.owed), Some(Owed::Write)) {
            return Ok(());
        }
        if let Some(image) = self.slab.image(block) {
            self.inner.write_verified(block, &image[..])?;
        }
        self.slab.update(block, |_, s| s.owed = Owed::Nothing);
        self.stats.written_through += 1;
        Ok(())
    }

    /// Writes every image the open transaction owes the device, in block
    /// order (the slab's owed set: no scan of every image).
    fn write_through_all(&mut self) -> Result<(), Error> {
        let owed: Vec<u64> = self.slab.owed_blocks().collect();
        for b in owed {
            self.write_through(b)?;
        }
        Ok(())
    }

    /// The transaction ended: `committed` images become committed, or
    /// pending ones are dropped.
    fn end_txn(&mut self, committed: bool) {
        self.in_txn = false;
        if committed {
            self.slab.update_all(|s| s.pending = false);
            return;
        }
        self.stats.dropped += self.slab.retain(|s| !s.pending) as u64;
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
            // A reader that checks the checksum itself.
            self.seal(first);
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
        if let Some(image) = self.slab.hit(block) {
            buf.copy_from_slice(&image[..]);
            self.stats.hits += 1;
            self.stats.copied += 1;
            return Ok(true);
        }
        self.inner.read(block, buf)?;
        self.stats.misses += 1;
        self.keep(block, buf)
    }

    /// A hit lends the cached image itself: no copy. An image the open
    /// transaction wrote and the device has not sealed yet is lent as
    /// verified too: the reader trusts this process's images and skips
    /// the checksum (`NodeView::parse_verified`).
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
        self.inner.read(block, &mut buf)?;
        self.stats.misses += 1;
        let verified = self.keep(block, &buf)?;
        f(&buf, verified);
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.inner.begin()?;
        self.in_txn = true;
        self.failed = None;
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let count = (data.len() / BLOCK_SIZE) as u64;
        self.drop_range(first, count.max(1));
        self.inner.write(first, data)?;
        if data.len() == BLOCK_SIZE {
            self.keep(first, data)?;
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
        // The device now holds this image: nothing of the block is owed.
        if !self.keep_verified(block, data, Owed::Nothing)? {
            self.drop_block(block);
        }
        Ok(())
    }

    /// The tree's node, kept unsealed as the block's pending image: sealed
    /// and written to the device once, at commit (or eviction), however
    /// often the transaction rewrites it. Outside a transaction, or when
    /// the cache keeps nothing, sealed and written now.
    fn write_sealing(
        &mut self,
        block: u64,
        image: &mut [u8; BLOCK_SIZE],
        seal: SealFn,
    ) -> Result<(), Error> {
        self.stats.sealing_writes += 1;
        if self.in_txn && self.keep_verified(block, image, Owed::SealAndWrite(seal))? {
            return Ok(());
        }
        seal(block, image);
        self.write_verified(block, image)
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let count = (data.len() / BLOCK_SIZE) as u64;
        self.drop_range(first, count.max(1));
        self.inner.write_fresh(first, data)?;
        if data.len() == BLOCK_SIZE {
            self.keep(first, data)?;
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

    fn free_blocks_known(&self) -> Option<u64> {
        self.inner.free_blocks_known()
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        // The transaction's owed images reach the device before its commit.
        let owed = match self.failed.take() {
            Some(e) => Err(e),
            None => self.write_through_all(),
        };
        if let Err(e) = owed {
            // Nothing of it commits: the caller sees a failed commit.
            self.inner.abort();
            self.in_txn = false;
            self.drop_all();
            return Err(e);
        }
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
#[path = "node_cache_tests.rs"]
mod tests;
