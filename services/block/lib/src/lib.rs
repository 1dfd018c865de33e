//! Crash-safe transactional block store: devices, superblock, allocator,
//! write-ahead journal, cache, fsck.
//!
//! The block layer turns a raw device of 512-byte sectors into a store of
//! 4096-byte blocks with all-or-nothing transactions ([`Transactional`]).
//! [`BlockStore`] is the implementation; it runs unchanged on the host (tests,
//! benchmarks) and inside the ring-3 block service. [`ImageSlab`] is the
//! bounded CLOCK slab of block images the services' caches above this layer
//! are built on (the content index cache, the filesystem's node cache).
//!
//! # Design principles
//! - Simple and clear algorithms over fast and clever ones: a physical
//!   (block image) redo journal, a bitmap allocator, an LRU cache.
//! - Every persistent byte is checksummed (CRC-32C) and checked before use;
//!   bytes from the disk are unverified until then, and a failure names the
//!   block and the values seen. Nothing on disk can make this crate panic.
//! - One ordering rule, enforced in one place (`BlockStore::write_home`): no
//!   journaled block reaches its home location before the commit that covers
//!   it is durable.
//! - Every structure states its byte layout at the top of the file that
//!   defines it (`superblock.rs`, `bitmap.rs`, `checksums.rs`, `journal.rs`),
//!   with its invariants and the crash cases of the protocol that writes it;
//!   `device.rs` states what the design assumes of a device.
//! - Devices sit behind [`BlockDevice`]; faults and power cuts are injected
//!   through the same trait (`RecordingDevice`, feature `std`).
//!
//! # Crash guarantee
//! After a power cut at any point, the recovered store is exactly as after
//! some prefix of the commits, in commit order, each whole; a `Durable`
//! commit that returned (and every commit before it) is inside the prefix,
//! and so is every commit before a `sync` that returned. The prefix ends
//! at a compound boundary: `Batched` commits not yet written to the
//! journal gather in one running compound transaction (jbd2's running
//! transaction; `store/compound.rs`) that is journaled as one, so a block
//! that several of them rewrite is journaled once, with its latest image,
//! and they survive all together or not at all. Merging them is allowed
//! because none of them was durable yet. `abort` undoes the open
//! transaction only, never the compound's commits. The protocol and its
//! numbered crash cases (case 9: the compound) are in `journal.rs`.
//!
//! # Example
//! ```
//! use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};
//!
//! let mut store = BlockStore::format(MemDevice::new(1024), Config::default_small())?;
//! store.begin()?;
//! let data = store.allocate(2)?; // bulk data: written unjournaled
//! store.write_fresh(data.start, &vec![7u8; 2 * BLOCK_SIZE])?;
//! let root = store.root_block(0); // metadata pointing at it: journaled
//! store.write(root, &data.start.to_le_bytes().repeat(BLOCK_SIZE / 8))?;
//! store.commit(Durability::Durable)?;
//!
//! // A power cut now loses nothing: remount what is on the device.
//! let mut store = BlockStore::mount(store.into_device(), Config::default_small())?;
//! let mut block = vec![0u8; BLOCK_SIZE];
//! store.read(data.start + 1, &mut block)?;
//! assert_eq!(block[0], 7);
//! assert!(store.check()?.is_clean());
//! # Ok::<(), block::Error>(())
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

mod bitmap;
mod byte_size;
mod cache;
mod checksum;
mod checksums;
mod device;
mod error;
mod fresh;
pub mod fsck;
mod image_slab;
mod journal;
mod replay;
mod store;
mod superblock;
mod table_block;

#[cfg(feature = "std")]
pub mod crash;
#[cfg(feature = "std")]
mod file_device;

pub use byte_size::ByteSize;
pub use checksum::{crc32c_extended_by_zeros, sealed_image_crc, SEAL_FIELD};
pub use device::{check_request, BlockDevice, DeviceError, IoRequest, MemDevice};
pub use error::{Corruption, Error, FaultOp, WriteFault};
#[cfg(feature = "std")]
pub use file_device::FileDevice;
pub use fsck::{check_device, Finding, FindingKind, Fsck, FsckReport};
pub use image_slab::{ImageSlab, SlotState};
pub use store::{
    BlockStore, Config, FormatOptions, Geometry, Stats, DEFAULT_FRESH_BUFFER_BLOCKS,
    FRESH_WRITE_BACK_BYTES, READ_ONLY_REPLAY_BLOCKS,
};

/// Bytes per block: the unit of every read, write, allocation and journal record.
pub const BLOCK_SIZE: usize = 4096;
/// Bytes per device sector: the largest unit the device writes atomically.
pub const SECTOR_SIZE: usize = 512;
/// Number of blocks reserved for upper layers' roots ([`Transactional::root_block`]).
pub const ROOT_SLOTS: usize = 16;

/// A run of `len` consecutive blocks starting at block `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
}

impl Extent {
    pub const fn new(start: u64, len: u64) -> Self {
        Self { start, len }
    }
    /// One past the last block (saturating: an extent from the disk may be bogus).
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
    pub fn contains(&self, block: u64) -> bool {
        block >= self.start && block < self.end()
    }
}

/// How durable a commit is when it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The transaction survives any crash once `commit` returned.
    Durable,
    /// Group commit: the transaction is visible at once and survives a crash
    /// once a later `Durable` commit or `sync` returned; commits become
    /// durable in order. Batched commits not yet written to the journal
    /// are written together, as one journal transaction: all or nothing
    /// after a crash (crate doc, "Crash guarantee").
    Batched,
}

/// Writes the checksum of a block image as it is stored at the block
/// given ([`Transactional::write_sealing`]).
pub type SealFn = fn(u64, &mut [u8; BLOCK_SIZE]);

/// What the layers above need from the block layer. [`BlockStore`]
/// implements it on the host; the block service's IPC client implements it
/// inside the system. At most one transaction is open at a time.
pub trait Transactional {
    fn block_count(&self) -> u64;
    /// Block reserved for upper layer `slot` (0..ROOT_SLOTS): zeros after
    /// format, written only inside transactions like any other block.
    fn root_block(&self, slot: usize) -> u64;
    /// Committed state (including batched commits not yet durable), or the
    /// open transaction's own writes. `buf.len()` a multiple of BLOCK_SIZE.
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// [`Transactional::read`] of one block for a reader that verifies
    /// what it reads (a cowbtree node), answering whether this device
    /// already verified the image as such, by the reader's own check, when
    /// it kept it (a cache of verified nodes: the filesystem's
    /// `node_cache`); the reader may then skip its checksum. Default:
    /// never verified.
    fn read_verified(&mut self, block: u64, buf: &mut [u8]) -> Result<bool, Error> {
        self.read(block, buf)?;
        Ok(false)
    }
    /// [`Transactional::read_verified`] of one block lent to `f` (with
    /// whether it was verified) instead of copied into the reader's buffer:
    /// a cache of verified nodes lends its own image, so a tree lookup
    /// copies no node (a 4 KiB copy costs about as much as a CRC-32C of it
    /// under QEMU's TCG; docs/speed.md). `f` runs exactly once when this
    /// returns `Ok`. Default: read into a buffer of its own.
    fn read_verified_with(
        &mut self,
        block: u64,
        f: &mut dyn FnMut(&[u8], bool),
    ) -> Result<(), Error> {
        let mut buf = alloc::vec![0u8; BLOCK_SIZE];
        let verified = self.read_verified(block, &mut buf)?;
        f(&buf, verified);
        Ok(())
    }
    fn begin(&mut self) -> Result<(), Error>;
    /// Journaled write (metadata): atomic with the rest of the transaction.
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error>;
    /// [`Transactional::write`] of one block image its writer built and
    /// sealed itself (a cowbtree node bound to `block`): a cache of
    /// verified images may keep it as verified without checking it again.
    /// The seal is the writer's word: bytes 4..8 ([`SEAL_FIELD`]) hold,
    /// little-endian, the CRC-32C of `block` as a u64 LE followed by bytes
    /// 8..4096, so the store journals the image under the CRC-32C it reads
    /// off the seal ([`sealed_image_crc`]) instead of a pass over its
    /// bytes. An image not sealed so is a broken promise: its journal
    /// record fails recovery's check like a damaged one. Default: a plain
    /// write.
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.write(block, data)
    }
    /// [`Transactional::write_verified`] of an image whose last step, its
    /// seal (a checksum bound to `block`, which `seal` writes into it), may
    /// wait until the image leaves for the device: a cache of verified
    /// images that keeps the open transaction's writes (the filesystem's
    /// `node_cache`) seals only the last image of each block, once, when
    /// it writes it through (at commit, or when it evicts it). A tree
    /// rewrites a node several times per transaction; each seal is a
    /// CRC-32C of 4 KiB (docs/speed.md). Until sealed, the image is served
    /// only to readers that trust the device's verified images
    /// ([`Transactional::read_verified`]). Default: seal now and write.
    fn write_sealing(
        &mut self,
        block: u64,
        image: &mut [u8; BLOCK_SIZE],
        seal: SealFn,
    ) -> Result<(), Error> {
        seal(block, image);
        self.write_verified(block, image)
    }
    /// Unjournaled write to blocks allocated in this same transaction
    /// (bulk data). Durable before the commit record that covers it.
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error>;
    /// A contiguous run of `count` free blocks, or Error::NoSpace.
    fn allocate(&mut self, count: u64) -> Result<Extent, Error>;
    /// Freed blocks are not handed out again before the free is durable.
    fn free(&mut self, extent: Extent) -> Result<(), Error>;
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error>;
    fn commit(&mut self, durability: Durability) -> Result<(), Error>;
    fn abort(&mut self);
    /// Makes every commit so far durable.
    fn sync(&mut self) -> Result<(), Error>;
    /// Data blocks free now, when this device knows the count without a
    /// scan (one call to the block service instead of a window of
    /// allocation bits per 32,768 blocks and a test per block: the fs
    /// checks free space before every put). `None`: count them with
    /// [`Transactional::is_allocated`]. Default: `None`.
    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        Ok(None)
    }
    /// Data blocks free as this client last learned them, without asking
    /// (a client of the block service: the count its last commit
    /// answered), or `None` when it knows none that still holds for its
    /// own state (inside a transaction: its own allocations, and a
    /// delegate's, change the count). Another client's transactions since
    /// may have changed it: good for an up-front courtesy check that is
    /// confirmed with [`Transactional::free_blocks`] before it refuses
    /// anything, not for an exact figure. Default: `None`.
    fn free_blocks_known(&self) -> Option<u64> {
        None
    }
}

/// A borrowed device is a device (as `&mut W` is a `Write`): a wrapper
/// that takes any `Transactional`, such as a test's counting one, can then
/// wrap a store it only borrows.
impl<T: Transactional + ?Sized> Transactional for &mut T {
    fn block_count(&self) -> u64 {
        (**self).block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        (**self).root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read(first, buf)
    }
    fn read_verified(&mut self, block: u64, buf: &mut [u8]) -> Result<bool, Error> {
        (**self).read_verified(block, buf)
    }
    fn read_verified_with(
        &mut self,
        block: u64,
        f: &mut dyn FnMut(&[u8], bool),
    ) -> Result<(), Error> {
        (**self).read_verified_with(block, f)
    }
    fn begin(&mut self) -> Result<(), Error> {
        (**self).begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        (**self).write(first, data)
    }
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        (**self).write_verified(block, data)
    }
    fn write_sealing(
        &mut self,
        block: u64,
        image: &mut [u8; BLOCK_SIZE],
        seal: SealFn,
    ) -> Result<(), Error> {
        (**self).write_sealing(block, image, seal)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        (**self).write_fresh(first, data)
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        (**self).allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        (**self).free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        (**self).is_allocated(block)
    }
    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        (**self).commit(durability)
    }
    fn abort(&mut self) {
        (**self).abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        (**self).sync()
    }
    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        (**self).free_blocks()
    }
    fn free_blocks_known(&self) -> Option<u64> {
        (**self).free_blocks_known()
    }
}
