//! `BlockStore`: the transactional block store over a `BlockDevice`.
//!
//! Formats and mounts the on-disk structures (`superblock.rs`, `bitmap.rs`,
//! `journal.rs` give their layouts and crash cases), runs transactions,
//! group-commits batched ones, checkpoints the journal to home locations and
//! replays it at mount. One concept per file:
//! - `mod.rs` (this file): the store's state, its tunables, counters and
//!   accessors, and the event log;
//! - `io.rs`: the counted device and the read-only-after-a-write-fault rule;
//! - `format.rs`: writing an empty store;
//! - `mount.rs`: mounting, in named steps (pick a superblock, replay the
//!   journal, write the recovery home, load the bitmap);
//! - `txn.rs`: the open transaction and the `Transactional` operations;
//! - `commit.rs`: how commits reach the disk (fresh data, journal records,
//!   flushes, home writes, checkpoints);
//! - `compound.rs`: the running compound transaction, which gathers the
//!   batched commits not yet written into one journal transaction;
//! - `data_checksums.rs`: the optional data checksum table, read and written
//!   through the open transaction.

mod commit;
mod compound;
mod data_checksums;
mod format;
mod io;
mod mount;
pub use mount::READ_ONLY_REPLAY_BLOCKS;
mod txn;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bitmap::Allocator;
use crate::cache::Cache;
use crate::error::{Error, WriteFault};
use crate::fresh::FreshBuffer;
use crate::replay::Repair;
use crate::superblock::{Superblock, SUPERBLOCK_BLOCKS};
use crate::{BlockDevice, Extent, Transactional, BLOCK_SIZE};

use compound::Compound;
use io::Counted;
use txn::Txn;

/// Blocks of unjournaled (`write_fresh`) data an open transaction gathers
/// in memory before they go to the device as one batch (2 MiB: one upload
/// piece of the content service, ~1.05 MiB of chunks laid out, fits whole,
/// and small enough for the streaming-memory bounds of the layers
/// above); change it with [`BlockStore::set_fresh_buffer_blocks`]. It is not
/// a `Config` field so that code building `Config` literally keeps compiling.
pub const DEFAULT_FRESH_BUFFER_BLOCKS: u64 = 512;

/// Fresh data worth a device request of its own while the block service is
/// idle (`BlockStore::write_back_fresh`): one of the disk driver's request
/// slots (256 KiB).
pub const FRESH_WRITE_BACK_BYTES: usize = 256 * 1024;

/// Tunables. `journal_blocks` matters only to `format`.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Blocks the cache holds (clean and dirty) between operations.
    pub cache_blocks: usize,
    /// Size of the journal region written by `format`.
    pub journal_blocks: u64,
    /// Batched commits gather in the running compound up to this many
    /// journal blocks before it is written out (still without a flush).
    pub group_commit_blocks: u64,
}

impl Config {
    /// The journal `format` gives a device of `block_count` blocks: ext4's
    /// rule for 4 KiB blocks (`ext2fs_default_journal_size`: 4 MiB below
    /// 128 MiB, 16 MiB below 1 GiB, more above), capped at 16 MiB here. A
    /// bigger journal wraps less often: fewer checkpoints, and a block
    /// rewritten between two checkpoints goes home once (docs/speed.md,
    /// "The journal's size"). Mount replays it whatever its size.
    pub const fn journal_blocks_for(block_count: u64) -> u64 {
        if block_count < 32 * 1024 {
            1024
        } else {
            4096
        }
    }

    /// A small journal and cache for tests on small devices.
    pub const fn default_small() -> Self {
        Config {
            cache_blocks: 64,
            journal_blocks: 64,
            group_commit_blocks: 16,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cache_blocks: 2048,
            journal_blocks: 2048,
            group_commit_blocks: 256,
        }
    }
}

/// Choices fixed when a device is formatted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatOptions {
    /// Keep a CRC-32C of every written block outside the block layer's
    /// region (`checksums.rs`); reads then return `Error::Corrupt` for a
    /// damaged block and fsck checks every allocated block.
    pub data_checksums: bool,
}

/// Where the regions of a formatted store are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub block_count: u64,
    pub superblocks: [u64; 2],
    pub bitmap: Extent,
    /// The data checksum table (empty unless formatted with data checksums).
    pub checksums: Extent,
    pub journal: Extent,
    pub roots: Extent,
    pub data_start: u64,
}

/// Counters for the `stats` shell command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
    pub cache_blocks: u64,
    pub cache_dirty_blocks: u64,
    pub cache_capacity: u64,
    pub journal_blocks: u64,
    pub journal_used_blocks: u64,
    pub commits_durable: u64,
    pub commits_batched: u64,
    pub checkpoints: u64,
    pub transactions_replayed: u64,
    pub device_reads: u64,
    pub device_writes: u64,
    pub device_flushes: u64,
    /// Writes made durable with their flush in one device request (also
    /// counted in `device_writes` and `device_flushes`).
    pub device_durable_writes: u64,
    pub blocks_read: u64,
    pub blocks_written: u64,
    /// `write_fresh` bytes copied into the fresh buffer (a memcpy each).
    pub fresh_copied_bytes: u64,
    /// `write_fresh` bytes that went to the device from the caller's own
    /// buffer (a write larger than the buffer's bound: no copy).
    pub fresh_direct_bytes: u64,
    /// `write_fresh_with` bytes filled straight into the fresh buffer (by
    /// the block service, from its client's lease: no copy of its own).
    pub fresh_filled_bytes: u64,
    /// Fresh buffers sent by `write_back_fresh` (the block service, idle),
    /// not by the next fresh write that found the buffer full.
    pub fresh_write_backs: u64,
    /// Journaled images copied into the transaction's buffers (`write`).
    pub journal_copied_bytes: u64,
    /// Journaled images filled straight into them (`write_block_with`:
    /// the block service's lease reads, no copy of its own).
    pub journal_filled_bytes: u64,
    /// Block images written to the journal (one CRC-32C pass each, but
    /// those below).
    pub journal_images: u64,
    /// Of `journal_images`, those written sealed (`write_verified`):
    /// tagged with the CRC-32C read off their seal, no pass over them.
    pub journal_sealed_images: u64,
    /// Journal transactions written: each a compound of the batched
    /// commits gathered since the last one (and the Durable commit that
    /// closed it, if one did).
    pub journal_transactions: u64,
    pub free_blocks: u64,
    /// Set once a write or flush failed: the store refuses changes.
    pub read_only: Option<WriteFault>,
}

impl core::fmt::Display for Stats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "cache: {} of {} blocks ({} dirty), {} hits, {} misses, {} evictions",
            self.cache_blocks,
            self.cache_capacity,
            self.cache_dirty_blocks,
            self.cache_hits,
            self.cache_misses,
            self.cache_evictions
        )?;
        writeln!(
            f,
            "journal: {} of {} blocks in use; {} durable and {} batched commits in {} journal transactions ({} images), {} checkpoints, {} transactions replayed at mount",
            self.journal_used_blocks, self.journal_blocks, self.commits_durable, self.commits_batched, self.journal_transactions, self.journal_images, self.checkpoints, self.transactions_replayed
        )?;
        writeln!(
            f,
            "device: {} reads ({} blocks), {} writes ({} blocks), {} flushes",
            self.device_reads,
            self.blocks_read,
            self.device_writes,
            self.blocks_written,
            self.device_flushes
        )?;
        writeln!(
            f,
            "fresh data: {} bytes copied into the fresh buffer, {} filled in place, {} bytes written from the caller's buffer; {} buffers written back while idle",
            self.fresh_copied_bytes, self.fresh_filled_bytes, self.fresh_direct_bytes, self.fresh_write_backs
        )?;
        writeln!(f, "space: {} blocks free", self.free_blocks)?;
        match self.read_only {
            None => writeln!(f, "state: read-write"),
            Some(fault) => writeln!(
                f,
                "state: read-only until the next boot: {fault} (device code {}); reads of committed data still work",
                fault.code
            ),
        }
    }
}

const EVENT_LOG_LEN: usize = 32;
/// Most spare image buffers the store keeps (one scattered write's worth).
const SPARE_IMAGES: usize = 64;

/// The crash-safe transactional block store.
///
/// # Invariants
/// - `used` journal blocks from `sb.journal_tail` hold the live transactions
///   `sb.journal_tail_seq..next_seq`, all written (`written_seq ==
///   next_seq - 1`); `pending` is empty between operations (the buffer the
///   compound is encoded into when it closes, written at once).
/// - Records through `written_seq` are on the device, through `durable_seq`
///   durably (`durable_seq <= written_seq < next_seq`).
/// - The running compound (`compound.rs`) will be transaction `next_seq`:
///   its images are dirty in the cache under that number.
/// - Every dirty cache entry belongs to a live transaction or to the
///   compound.
pub struct BlockStore<D: BlockDevice> {
    dev: Counted<D>,
    sb: Superblock,
    alloc: Allocator,
    cache: Cache,
    config: Config,
    txn: Option<Txn>,
    head: u64,
    used: u64,
    next_seq: u64,
    /// Batched commits not yet written to the journal.
    compound: Compound,
    pending: Vec<u8>,
    written_seq: u64,
    durable_seq: u64,
    /// Fresh (unjournaled) data written since the last flush.
    fresh_unflushed: bool,
    /// Fresh data of the open transaction not yet sent to the device (empty
    /// outside a transaction), at most `fresh_limit_blocks` blocks.
    fresh: FreshBuffer,
    fresh_limit_blocks: u64,
    /// Block buffers of images the cache or a transaction replaced, kept
    /// (at most `SPARE_IMAGES`) for `write_block_with` to fill: a new
    /// 4 KiB allocation is zeroed first, a spare one is not.
    spare_images: Vec<Box<[u8]>>,
    /// Blocks freed by committed transactions wait for a checkpoint.
    reserved_waiting: bool,
    /// Journal blocks mount found bad and repaired (fsck reports them).
    journal_repairs: Vec<Repair>,
    /// Replayed images a read-only mount could not write home (empty
    /// unless the disk failed a write or flush during recovery).
    overlay: BTreeMap<u64, Vec<u8>>,
    stats: Stats,
    events: VecDeque<String>,
}
impl<D: BlockDevice> BlockStore<D> {
    pub fn geometry(&self) -> Geometry {
        let sb = &self.sb;
        Geometry {
            block_count: sb.block_count,
            superblocks: SUPERBLOCK_BLOCKS,
            bitmap: Extent::new(sb.bitmap_start, sb.bitmap_blocks),
            checksums: Extent::new(sb.checksum_start, sb.checksum_blocks),
            journal: Extent::new(sb.journal_start, sb.journal_blocks),
            roots: Extent::new(sb.root_start, sb.root_slots),
            data_start: sb.data_start,
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            cache_hits: self.cache.hits,
            cache_misses: self.cache.misses,
            cache_evictions: self.cache.evictions,
            cache_blocks: self.cache.len() as u64,
            cache_dirty_blocks: self.cache.dirty_count() as u64,
            cache_capacity: self.cache.capacity() as u64,
            journal_blocks: self.sb.journal_blocks,
            journal_used_blocks: self.used,
            device_reads: self.dev.reads,
            device_writes: self.dev.writes,
            device_flushes: self.dev.flushes,
            device_durable_writes: self.dev.durable_writes,
            blocks_read: self.dev.blocks_read,
            blocks_written: self.dev.blocks_written,
            free_blocks: self.alloc.free_blocks(),
            read_only: self.dev.fault,
            ..self.stats
        }
    }

    /// Sets how many blocks of `write_fresh` data a transaction gathers
    /// before sending them to the device as one batch (0: each write goes
    /// out at once). The memory it takes is this many blocks.
    pub fn set_fresh_buffer_blocks(&mut self, blocks: u64) {
        self.fresh_limit_blocks = blocks;
    }

    /// Recent events (mount, replay, checkpoints, superblock repairs), oldest first.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(String::as_str)
    }

    /// Gives the device back without flushing (tests use this to "cut the power").
    pub fn into_device(self) -> D {
        self.dev.dev
    }

    /// Makes everything durable and checkpoints, then gives the device back.
    pub fn unmount(mut self) -> Result<D, Error> {
        if self.txn.is_some() {
            self.abort();
        }
        self.checkpoint()?;
        Ok(self.dev.dev)
    }

    pub(crate) fn superblock(&self) -> &Superblock {
        &self.sb
    }
    pub(crate) fn allocator(&self) -> &Allocator {
        &self.alloc
    }
    pub(crate) fn device_mut(&mut self) -> &mut D {
        &mut self.dev.dev
    }
    /// The device (read-only: tests inspect a recording device through it).
    pub fn device(&self) -> &D {
        &self.dev.dev
    }
    /// The device itself, for fault-injection tests. Anything written
    /// through it bypasses the journal and the cache.
    pub fn device_mut_unchecked(&mut self) -> &mut D {
        &mut self.dev.dev
    }
    pub(crate) fn journal_repairs(&self) -> &[Repair] {
        &self.journal_repairs
    }
    pub(crate) fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Keeps `image`'s buffer for a later `write_block_with`, up to the bound.
    pub(super) fn recycle(&mut self, image: Box<[u8]>) {
        if self.spare_images.len() < SPARE_IMAGES && image.len() == BLOCK_SIZE {
            self.spare_images.push(image);
        }
    }

    /// The failed write or flush that made the store read-only, if any.
    pub fn read_only(&self) -> Option<WriteFault> {
        self.dev.fault
    }
}

/// A repaired journal block in words (for the event log and fsck).
pub(crate) fn repair_text(sb: &Superblock, r: &Repair) -> String {
    let block = sb.journal_start + r.offset;
    if r.durable {
        format!(
            "journal block {block} of durable transaction {} was damaged; replay repaired it from its redundant copy, nothing was lost",
            r.seq
        )
    } else {
        format!(
            "journal block {block} of transaction {} was bad (a write torn by a power cut, or damage); replay repaired it from its redundant copy",
            r.seq
        )
    }
}

fn log_event(events: &mut VecDeque<String>, event: String) {
    if events.len() == EVENT_LOG_LEN {
        events.pop_front();
    }
    events.push_back(event);
}
