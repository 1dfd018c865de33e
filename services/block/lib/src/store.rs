//! `BlockStore`: the transactional block store over a `BlockDevice`.
//!
//! Formats and mounts the on-disk structures (`superblock.rs`, `bitmap.rs`,
//! `journal.rs` give their layouts and crash cases), runs transactions,
//! group-commits batched ones, checkpoints the journal to home locations and
//! replays it at mount.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::bitmap::{self, Allocator};
use crate::cache::Cache;
use crate::checksums;
use crate::device::{check_request, write_sorted};
use crate::error::{Corruption, Error, FaultOp, WriteFault};
use crate::fresh::FreshBuffer;
use crate::journal;
use crate::replay::LogEnd;
use crate::replay::{self, Repair};
use crate::superblock::{self, Superblock, SUPERBLOCK_BLOCKS};
use crate::{
    BlockDevice, DeviceError, Durability, Extent, IoRequest, Transactional, BLOCK_SIZE, ROOT_SLOTS,
};

/// Blocks of unjournaled (`write_fresh`) data an open transaction gathers
/// in memory before they go to the device as one batch (1 MiB: one upload
/// piece, and small enough for the streaming-memory bounds of the layers
/// above); change it with [`BlockStore::set_fresh_buffer_blocks`]. It is not
/// a `Config` field so that code building `Config` literally keeps compiling.
pub const DEFAULT_FRESH_BUFFER_BLOCKS: u64 = 256;

/// Tunables. `journal_blocks` matters only to `format`.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Blocks the cache holds (clean and dirty) between operations.
    pub cache_blocks: usize,
    /// Size of the journal region written by `format`.
    pub journal_blocks: u64,
    /// Batched commits are buffered in memory up to this many journal blocks
    /// before they are written out (still without a flush).
    pub group_commit_blocks: u64,
}

impl Config {
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
    pub blocks_read: u64,
    pub blocks_written: u64,
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
            "journal: {} of {} blocks in use; {} durable and {} batched commits, {} checkpoints, {} transactions replayed at mount",
            self.journal_used_blocks, self.journal_blocks, self.commits_durable, self.commits_batched, self.checkpoints, self.transactions_replayed
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

/// Counts every request the store makes of its device, and keeps the first
/// failed write or flush: from then on the store is read-only.
struct Counted<D> {
    dev: D,
    reads: u64,
    writes: u64,
    flushes: u64,
    blocks_read: u64,
    blocks_written: u64,
    fault: Option<WriteFault>,
}

impl<D> Counted<D> {
    fn new(dev: D) -> Self {
        Counted {
            dev,
            reads: 0,
            writes: 0,
            flushes: 0,
            blocks_read: 0,
            blocks_written: 0,
            fault: None,
        }
    }

    /// Records a failed write or flush (the first one is kept).
    fn note<T>(
        &mut self,
        op: FaultOp,
        block: u64,
        r: Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        if let Err(e) = &r {
            self.fault.get_or_insert(WriteFault::new(op, block, e));
        }
        r
    }
}

impl<D: BlockDevice> BlockDevice for Counted<D> {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.reads += 1;
        self.blocks_read += (buf.len() / BLOCK_SIZE) as u64;
        self.dev.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.writes += 1;
        self.blocks_written += (data.len() / BLOCK_SIZE) as u64;
        let r = self.dev.write(first, data);
        self.note(FaultOp::Write, first, r)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.flushes += 1;
        let r = self.dev.flush();
        self.note(FaultOp::Flush, 0, r)
    }
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        let mut first_write = None;
        for r in batch.iter() {
            match r {
                IoRequest::Read { .. } => {
                    self.reads += 1;
                    self.blocks_read += r.blocks();
                }
                IoRequest::Write { .. } => {
                    self.writes += 1;
                    self.blocks_written += r.blocks();
                    first_write.get_or_insert(r.first());
                }
            }
        }
        let r = self.dev.submit(batch);
        match first_write {
            // A batch with a write may have changed the disk: read-only.
            Some(block) => self.note(FaultOp::Write, block, r),
            // A failed read changes nothing: it fails that read alone.
            None => r,
        }
    }
}

#[derive(Clone, Copy)]
enum AllocOp {
    Allocated(Extent),
    Freed(Extent),
}

/// The open transaction.
#[derive(Default)]
struct Txn {
    /// Journaled writes: home block -> image.
    writes: BTreeMap<u64, Box<[u8]>>,
    /// Allocation changes in order (undone in reverse by `abort`).
    ops: Vec<AllocOp>,
    wrote_fresh: bool,
}

impl Txn {
    fn allocated_here(&self, block: u64) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, AllocOp::Allocated(e) if e.contains(block)))
    }
}

const EVENT_LOG_LEN: usize = 32;

/// The crash-safe transactional block store.
///
/// # Invariants
/// - `used` journal blocks from `sb.journal_tail` hold the live transactions
///   `sb.journal_tail_seq..next_seq`; `pending` holds the encoded records of
///   the last of them not yet written, starting at offset `pending_at`.
/// - Records through `written_seq` are on the device, through `durable_seq`
///   durably (`durable_seq <= written_seq < next_seq`).
/// - Every dirty cache entry belongs to a live transaction.
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
    pending: Vec<u8>,
    pending_at: u64,
    written_seq: u64,
    durable_seq: u64,
    /// Fresh (unjournaled) data written since the last flush.
    fresh_unflushed: bool,
    /// Fresh data of the open transaction not yet sent to the device (empty
    /// outside a transaction), at most `fresh_limit_blocks` blocks.
    fresh: FreshBuffer,
    fresh_limit_blocks: u64,
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
    /// Writes an empty store onto `device` (destroying what was there) and mounts it.
    pub fn format(device: D, config: Config) -> Result<Self, Error> {
        Self::format_with(device, config, FormatOptions::default())
    }

    /// `format` with the format-time choices of `options`.
    pub fn format_with(
        mut device: D,
        config: Config,
        options: FormatOptions,
    ) -> Result<Self, Error> {
        let block_count = device.block_count();
        if config.journal_blocks < journal::MIN_JOURNAL_BLOCKS
            || config.journal_blocks > u32::MAX as u64
        {
            return Err(Error::BadConfig {
                name: "journal_blocks",
                value: config.journal_blocks,
            });
        }
        let bitmap_blocks = bitmap::bitmap_blocks_for(block_count);
        let checksum_blocks = if options.data_checksums {
            checksums::checksum_blocks_for(block_count)
        } else {
            0
        };
        // Any transaction may rewrite every bitmap block: they must fit in
        // the journal next to at least one other image and its table block.
        if journal::blocks_needed(bitmap_blocks + 2) > config.journal_blocks {
            return Err(Error::BadConfig {
                name: "journal_blocks",
                value: config.journal_blocks,
            });
        }
        let checksum_start = 2 + bitmap_blocks;
        let journal_start = checksum_start + checksum_blocks;
        let root_start = journal_start + config.journal_blocks;
        let data_start = root_start + ROOT_SLOTS as u64;
        if data_start >= block_count {
            return Err(Error::DeviceTooSmall {
                block_count,
                needed: data_start + 1,
            });
        }
        // Old superblocks first: a format cut short must not leave an old
        // store pointing into half-overwritten regions.
        device.write(0, &[0u8; 2 * BLOCK_SIZE])?;
        device.flush()?;
        // Journal and roots zeroed: no stale record can ever look live.
        let zeros = vec![0u8; 256 * BLOCK_SIZE];
        let mut at = journal_start;
        while at < data_start {
            let n = (data_start - at).min(256);
            device.write(at, &zeros[..n as usize * BLOCK_SIZE])?;
            at += n;
        }
        let alloc = Allocator::formatted(block_count, data_start);
        for i in 0..bitmap_blocks {
            device.write(2 + i, &bitmap::encode_block(i, alloc.block_words(i)))?;
        }
        for i in 0..checksum_blocks {
            device.write(checksum_start + i, &checksums::encode_empty(i))?;
        }
        device.flush()?;
        let sb = Superblock {
            block_count,
            generation: 1,
            bitmap_start: 2,
            bitmap_blocks,
            journal_start,
            journal_blocks: config.journal_blocks,
            root_start,
            root_slots: ROOT_SLOTS as u64,
            data_start,
            journal_epoch: 1,
            journal_tail: 0,
            journal_tail_seq: 1,
            features: if options.data_checksums {
                superblock::FEATURE_DATA_CHECKSUMS
            } else {
                0
            },
            checksum_start,
            checksum_blocks,
        };
        let mut both = vec![0u8; 2 * BLOCK_SIZE];
        both[..BLOCK_SIZE].copy_from_slice(
            &Superblock {
                generation: 0,
                ..sb
            }
            .encode(),
        );
        both[BLOCK_SIZE..].copy_from_slice(&sb.encode());
        device.write(0, &both)?;
        device.flush()?;
        Self::mount(device, config)
    }

    /// Mounts the store on `device`: picks the newest valid superblock,
    /// replays the journal, starts a new journal epoch, loads the bitmap.
    pub fn mount(device: D, config: Config) -> Result<Self, Error> {
        if config.cache_blocks < 16 {
            return Err(Error::BadConfig {
                name: "cache_blocks",
                value: config.cache_blocks as u64,
            });
        }
        let mut dev = Counted::new(device);
        let mut events = VecDeque::new();
        let (sb, other) = Self::pick_superblock(&mut dev, &mut events)?;
        let mut stats = Stats::default();

        // Replay: collect the images of every valid transaction (later wins),
        // then write them home at once. Bounded by the journal size.
        let mut images: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let start = sb.journal_start;
        let scan = replay::scan_log(
            |o, n| {
                let mut b = vec![0u8; n as usize * BLOCK_SIZE];
                dev.read(start + o, &mut b).map(|_| b)
            },
            &sb,
            |t| {
                if let Some((home, _)) = t
                    .images
                    .iter()
                    .find(|(h, _)| !Self::journaled_home(&sb, *h))
                {
                    log_event(&mut events, format!(
                        "journal replay stopped at transaction {}: it names block {home}, which no transaction may write",
                        t.seq
                    ));
                    return false;
                }
                images.extend(t.images);
                true
            },
        )?;
        let (at, seq) = (scan.end, scan.next_seq);
        stats.transactions_replayed = scan.replayed;
        if let Some(gap) = scan.gap {
            return Err(Error::Corrupt {
                block: sb.journal_start + gap.offset,
                detail: Corruption::JournalGap {
                    seq: gap.seq,
                    later_seq: gap.later_seq,
                },
            });
        }
        if let Some(end) = &scan.stop {
            if !matches!(end, LogEnd::NotARecord { .. } | LogEnd::Stale { .. }) {
                log_event(
                    &mut events,
                    format!("journal replay stopped at transaction {seq}: {end:?}"),
                );
            }
        }
        for r in &scan.repairs {
            log_event(&mut events, repair_text(&sb, r));
        }
        let new = Superblock {
            generation: sb.generation.max(other) + 1,
            journal_epoch: sb.journal_epoch + 1,
            journal_tail: at,
            journal_tail_seq: seq,
            ..sb
        };
        let (sb, overlay) = match Self::finish_recovery(&mut dev, &images, new) {
            Ok(sb) => {
                if !images.is_empty() {
                    log_event(
                        &mut events,
                        format!(
                            "replayed {} transactions ({} blocks)",
                            stats.transactions_replayed,
                            images.len()
                        ),
                    );
                }
                (sb, BTreeMap::new())
            }
            // The disk failed a write or flush: mount read-only, serving the
            // replayed images from memory (as many as the journal holds, the
            // bound mount already has). The journal on the disk is untouched,
            // so the next mount replays it again.
            Err(Error::Device(_)) if dev.fault.is_some() => {
                if let Some(fault) = dev.fault {
                    log_event(&mut events, format!(
                        "{fault} while recovering: the store is read-only until the next boot; the {} replayed transactions are served from memory",
                        stats.transactions_replayed
                    ));
                }
                (sb, images)
            }
            Err(e) => return Err(e),
        };

        let mut words = Vec::with_capacity(sb.bitmap_blocks as usize * bitmap::WORDS_PER_BLOCK);
        let mut buf = vec![0u8; BLOCK_SIZE];
        for i in 0..sb.bitmap_blocks {
            match overlay.get(&(sb.bitmap_start + i)) {
                Some(image) => buf.copy_from_slice(image),
                None => dev.read(sb.bitmap_start + i, &mut buf)?,
            }
            words.extend(bitmap::decode_block(sb.bitmap_start + i, i, &buf)?);
        }
        let alloc = Allocator::from_words(sb.block_count, sb.data_start, sb.bitmap_start, words)?;
        log_event(
            &mut events,
            format!(
                "mounted generation {} epoch {}: {} of {} blocks free",
                sb.generation,
                sb.journal_epoch,
                alloc.free_blocks(),
                sb.block_count
            ),
        );
        Ok(BlockStore {
            dev,
            sb,
            alloc,
            cache: Cache::new(config.cache_blocks),
            config,
            txn: None,
            head: at,
            used: 0,
            next_seq: seq,
            pending: Vec::new(),
            pending_at: at,
            written_seq: seq - 1,
            durable_seq: seq - 1,
            fresh_unflushed: false,
            fresh: FreshBuffer::default(),
            fresh_limit_blocks: DEFAULT_FRESH_BUFFER_BLOCKS,
            reserved_waiting: false,
            journal_repairs: scan.repairs,
            overlay,
            stats,
            events,
        })
    }

    /// Writes the replayed images home, flushes and writes both superblock
    /// copies of the new epoch (records past the log's end, written before
    /// the cut, become stale). Returns the superblock now current.
    fn finish_recovery(
        dev: &mut Counted<D>,
        images: &BTreeMap<u64, Vec<u8>>,
        sb: Superblock,
    ) -> Result<Superblock, Error> {
        if !images.is_empty() {
            let mut set: Vec<(u64, &[u8])> = images.iter().map(|(b, d)| (*b, &d[..])).collect();
            write_sorted(dev, &mut set)?;
        }
        dev.flush()?;
        // Both copies, so a damaged one later loses nothing (superblock.rs).
        Ok(superblock::write_pair(dev, sb)?)
    }

    /// The current superblock and the generation of the other copy (0 if invalid).
    fn pick_superblock(
        dev: &mut Counted<D>,
        events: &mut VecDeque<String>,
    ) -> Result<(Superblock, u64), Error> {
        let mut buf = vec![0u8; BLOCK_SIZE];
        let mut copies = Vec::new();
        for block in SUPERBLOCK_BLOCKS {
            dev.read(block, &mut buf)?;
            copies.push(Superblock::decode(block, &buf));
        }
        let valid: Vec<&Superblock> = copies.iter().filter_map(|c| c.as_ref().ok()).collect();
        let Some(best) = valid.iter().max_by_key(|s| s.generation).copied().copied() else {
            // Prefer the most telling error: a version, then corruption.
            return Err(copies
                .into_iter()
                .filter_map(Result::err)
                .min_by_key(|e| match e {
                    Error::UnsupportedVersion { .. } => 0,
                    Error::Corrupt { .. } => 1,
                    _ => 2,
                })
                .unwrap_or(Error::NotFormatted));
        };
        for (block, copy) in SUPERBLOCK_BLOCKS.iter().zip(&copies) {
            if let Err(e) = copy {
                log_event(
                    events,
                    format!("superblock copy in block {block} is damaged ({e}): mounted from the other copy (generation {}), which names the same journal; both copies are rewritten", best.generation),
                );
            }
        }
        let other = valid
            .iter()
            .filter(|s| s.generation != best.generation)
            .map(|s| s.generation)
            .max()
            .unwrap_or(0);
        if dev.block_count() < best.block_count {
            return Err(Error::DeviceTooSmall {
                block_count: dev.block_count(),
                needed: best.block_count,
            });
        }
        Ok((best, other))
    }

    /// Blocks a journal record may name as its home.
    fn journaled_home(sb: &Superblock, block: u64) -> bool {
        (block >= sb.bitmap_start && block < sb.journal_start)
            || (block >= sb.root_start && block < sb.block_count)
    }

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

    fn check_range(&self, first: u64, len: usize) -> Result<u64, Error> {
        check_request(first, len, self.sb.block_count).map_err(|e| match e {
            DeviceError::OutOfRange {
                first,
                blocks,
                block_count,
            } => Error::OutOfRange {
                first,
                blocks,
                block_count,
            },
            _ => Error::BadLength { len },
        })
    }

    /// `Err(ReadOnly)` once a write or flush has failed: every change is
    /// refused from then on. Reads never check it.
    fn usable(&self) -> Result<(), Error> {
        match self.dev.fault {
            Some(fault) => Err(Error::ReadOnly(fault)),
            None => Ok(()),
        }
    }

    /// The failed write or flush that made the store read-only, if any.
    pub fn read_only(&self) -> Option<WriteFault> {
        self.dev.fault
    }

    /// Runs `f`. A failed write or flush leaves the disk behind the
    /// committed state in memory (which blocks reached it is unknown), so
    /// the store turns read-only: the caller gets `ReadOnly`, and reads keep
    /// serving the committed state from the cache and the disk. A failed
    /// read changes nothing and is returned as it is.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        let before = self.dev.fault.is_some();
        let r = f(self);
        match (r, self.dev.fault) {
            (Err(Error::Device(_)), Some(fault)) if !before => {
                log_event(
                    &mut self.events,
                    format!("{fault}: the store is read-only until the next boot"),
                );
                Err(Error::ReadOnly(fault))
            }
            (r, _) => r,
        }
    }

    /// Gathers one `write_fresh` in the fresh buffer, first sending what is
    /// buffered when the new write overlaps it (the later write must land
    /// last) or would take the buffer past its bound. A write larger than
    /// the bound goes to the device at once.
    fn buffer_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let limit = usize::try_from(self.fresh_limit_blocks)
            .unwrap_or(usize::MAX)
            .saturating_mul(BLOCK_SIZE);
        let blocks = (data.len() / BLOCK_SIZE) as u64;
        if self.fresh.overlaps(first, blocks)
            || self.fresh.bytes().saturating_add(data.len()) > limit
        {
            self.send_fresh()?;
        }
        if data.len() > limit {
            self.dev.write(first, data)?;
        } else {
            self.fresh.push(first, data, limit);
        }
        Ok(())
    }

    /// Sends the fresh buffer to the device as one batch and empties it.
    fn send_fresh(&mut self) -> Result<(), Error> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let mut batch = self.fresh.requests();
        self.dev.submit(&mut batch)?;
        drop(batch);
        self.fresh.clear();
        Ok(())
    }

    /// Writes buffered journal records (after making fresh data durable).
    fn write_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.fresh_unflushed {
            // Ordered data: fresh blocks are durable before any commit record
            // that makes them reachable is written.
            self.dev.flush()?;
            self.fresh_unflushed = false;
        }
        let jb = self.sb.journal_blocks;
        let blocks = (self.pending.len() / BLOCK_SIZE) as u64;
        let first_part = blocks.min(jb - self.pending_at);
        let (a, b) = self.pending.split_at(first_part as usize * BLOCK_SIZE);
        let mut batch = vec![IoRequest::Write {
            first: self.sb.journal_start + self.pending_at,
            data: a,
        }];
        if !b.is_empty() {
            batch.push(IoRequest::Write {
                first: self.sb.journal_start,
                data: b,
            });
        }
        self.dev.submit(&mut batch)?;
        self.pending.clear();
        self.pending_at = self.head;
        self.written_seq = self.next_seq - 1;
        Ok(())
    }

    /// Makes every commit so far durable.
    fn sync_journal(&mut self) -> Result<(), Error> {
        self.write_pending()?;
        if self.durable_seq < self.written_seq {
            self.dev.flush()?;
            self.durable_seq = self.written_seq;
        }
        Ok(())
    }

    /// THE ordering rule, in the one place that writes journaled blocks to
    /// their home: only images whose commit is durable are written.
    fn write_home(&mut self) -> Result<(), Error> {
        let mut set = self.cache.dirty_through(self.durable_seq);
        if set.is_empty() {
            return Ok(());
        }
        write_sorted(&mut self.dev, &mut set)?;
        let blocks: Vec<u64> = set.iter().map(|(b, _)| *b).collect();
        for b in blocks {
            self.cache.mark_clean(b);
        }
        Ok(())
    }

    /// Makes every commit durable, writes every journaled block home and
    /// moves the journal tail to the head: the journal is empty afterwards
    /// and blocks freed by committed transactions become reusable.
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.usable()?;
        self.guarded(|s| {
            s.sync_journal()?;
            s.write_home()?;
            if s.used == 0 && !s.reserved_waiting {
                return Ok(());
            }
            s.dev.flush()?;
            let sb = Superblock {
                generation: s.sb.generation + 1,
                journal_tail: s.head,
                journal_tail_seq: s.next_seq,
                ..s.sb
            };
            // Both copies before any journal space is reused (superblock.rs).
            s.sb = superblock::write_pair(&mut s.dev, sb)?;
            s.used = 0;
            s.stats.checkpoints += 1;
            // Frees of committed transactions are durable and no journal
            // record older than them is live: their blocks may be reused.
            s.alloc.release_all_reserved();
            s.reserved_waiting = false;
            if let Some(txn) = &s.txn {
                for op in &txn.ops {
                    if let AllocOp::Freed(e) = op {
                        s.alloc.reserve(*e, true);
                    }
                }
            }
            s.cache.evict_clean();
            Ok(())
        })
    }

    /// Refuses a change that would make the open transaction too large for
    /// the journal: `range` written (journaled or not) plus the checksum
    /// table blocks it touches, plus every bitmap block in the worst case.
    fn check_txn_size(&self, range: Extent, journaled: bool) -> Result<(), Error> {
        let txn = self.txn.as_ref().ok_or(Error::NoTransaction)?;
        let new = if journaled {
            (range.start..range.end())
                .filter(|b| !txn.writes.contains_key(b))
                .count() as u64
        } else {
            0
        };
        let tables = if self.sb.data_checksums() && range.len > 0 {
            let first = checksums::locate(range.start).0;
            let last = checksums::locate(range.end() - 1).0;
            (first..=last)
                .filter(|t| !txn.writes.contains_key(&(self.sb.checksum_start + t)))
                .count() as u64
        } else {
            0
        };
        let jb = self.sb.journal_blocks;
        let needed =
            journal::blocks_needed(txn.writes.len() as u64 + new + tables + self.sb.bitmap_blocks);
        if needed > jb {
            return Err(Error::TransactionTooLarge {
                journal_blocks_needed: needed,
                journal_blocks: jb,
            });
        }
        Ok(())
    }

    /// Checksum table block `index` as the open transaction (or the
    /// committed state) sees it, checked.
    fn table_block(&mut self, index: u64) -> Result<Box<[u8]>, Error> {
        let home = self.sb.checksum_start + index;
        if let Some(t) = self.txn.as_ref().and_then(|t| t.writes.get(&home)) {
            return Ok(t.clone());
        }
        if let Some(t) = self.cache.get(home) {
            let t: Box<[u8]> = t.into();
            checksums::check(home, index, &t)?;
            return Ok(t);
        }
        let mut buf = vec![0u8; BLOCK_SIZE];
        match self.overlay.get(&home) {
            Some(image) => buf.copy_from_slice(image),
            None => self.dev.read(home, &mut buf)?,
        }
        checksums::check(home, index, &buf)?;
        self.cache.insert_clean(home, &buf);
        Ok(buf.into_boxed_slice())
    }

    /// Sets the checksum entry of every block of `range` to `value(block)`
    /// in the open transaction (no-op without data checksums).
    fn set_checksums(&mut self, range: Extent, value: impl Fn(u64) -> u32) -> Result<(), Error> {
        if !self.sb.data_checksums() || range.len == 0 {
            return Ok(());
        }
        let mut b = range.start;
        while b < range.end() {
            let (index, _) = checksums::locate(b);
            let mut table = self.table_block(index)?;
            while b < range.end() && checksums::locate(b).0 == index {
                checksums::set_entry(&mut table, checksums::locate(b).1, value(b));
                b += 1;
            }
            checksums::seal(&mut table);
            let home = self.sb.checksum_start + index;
            self.txn_mut()?.writes.insert(home, table);
        }
        Ok(())
    }

    /// Checks `buf` (blocks `first..`) against the checksum table; a
    /// mismatch is an error naming the block, and `buf` is zeroed so the
    /// damaged bytes are not handed out.
    fn verify_checksums(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if !self.sb.data_checksums() {
            return Ok(());
        }
        let mut table: Option<(u64, Box<[u8]>)> = None;
        let mut bad = None;
        for (i, data) in buf.chunks_exact(BLOCK_SIZE).enumerate() {
            let block = first + i as u64;
            if block < self.sb.root_start || !self.alloc.is_allocated(block) {
                continue;
            }
            let (index, slot) = checksums::locate(block);
            let stored = match &table {
                Some((t, image)) if *t == index => checksums::entry(image, slot),
                _ => {
                    let image = self.table_block(index)?;
                    let e = checksums::entry(&image, slot);
                    table = Some((index, image));
                    e
                }
            };
            if stored != checksums::NONE {
                let computed = checksums::data_checksum(data);
                if computed != stored {
                    bad = Some(Error::Corrupt {
                        block,
                        detail: Corruption::Checksum { stored, computed },
                    });
                    break;
                }
            }
        }
        match bad {
            Some(e) => {
                buf.fill(0);
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn txn_mut(&mut self) -> Result<&mut Txn, Error> {
        self.usable()?;
        self.txn.as_mut().ok_or(Error::NoTransaction)
    }

    fn do_commit(&mut self, durability: Durability) -> Result<(), Error> {
        let bitmap_start = self.sb.bitmap_start;
        let dirty_bitmap = self.alloc.take_dirty();
        let Some(txn) = self.txn.as_mut() else {
            return Err(Error::NoTransaction);
        };
        for i in dirty_bitmap {
            let image = bitmap::encode_block(i, self.alloc.block_words(i));
            txn.writes.insert(bitmap_start + i, Box::new(image));
        }
        let need = journal::blocks_needed(txn.writes.len() as u64);
        if need > self.sb.journal_blocks {
            self.abort();
            return Err(Error::TransactionTooLarge {
                journal_blocks_needed: need,
                journal_blocks: self.sb.journal_blocks,
            });
        }
        // Ordered data: the transaction's fresh blocks reach the device now,
        // so the flush before its commit record (`write_pending`) covers them.
        self.send_fresh()?;
        let Some(txn) = self.txn.as_ref() else {
            return Err(Error::NoTransaction);
        };
        if !txn.writes.is_empty() && self.used + need > self.sb.journal_blocks {
            // Still open during this checkpoint, so its own frees stay
            // reserved: they are not durable until its records are.
            self.checkpoint()?;
        }
        let Some(txn) = self.txn.take() else {
            return Err(Error::NoTransaction);
        };
        if txn.ops.iter().any(|op| matches!(op, AllocOp::Freed(_))) {
            self.reserved_waiting = true;
        }
        if !txn.writes.is_empty() {
            let seq = self.next_seq;
            let images: Vec<(u64, &[u8])> = txn.writes.iter().map(|(b, d)| (*b, &d[..])).collect();
            let records =
                journal::encode_transaction(self.sb.journal_epoch, seq, self.durable_seq, &images);
            if txn.wrote_fresh {
                self.fresh_unflushed = true;
            }
            self.pending.extend_from_slice(&records);
            self.head = (self.head + need) % self.sb.journal_blocks;
            self.used += need;
            self.next_seq += 1;
            for (block, image) in &txn.writes {
                self.cache.insert_dirty(*block, image, seq);
            }
        }
        match durability {
            Durability::Durable => {
                self.sync_journal()?;
                self.stats.commits_durable += 1;
            }
            Durability::Batched => {
                if self.pending.len() as u64 >= self.config.group_commit_blocks * BLOCK_SIZE as u64
                {
                    self.write_pending()?;
                }
                self.stats.commits_batched += 1;
            }
        }
        if self.cache.dirty_count() > self.cache.capacity() / 2
            || self.used > self.sb.journal_blocks / 4 * 3
        {
            self.checkpoint()?;
        }
        self.cache.evict_clean();
        Ok(())
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

impl<D: BlockDevice> Transactional for BlockStore<D> {
    fn block_count(&self) -> u64 {
        self.sb.block_count
    }

    fn root_block(&self, slot: usize) -> u64 {
        assert!(slot < ROOT_SLOTS, "root slot {slot} out of 0..{ROOT_SLOTS}");
        self.sb.root_start + slot as u64
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        // Reads work in a read-only store: committed data stays readable.
        self.check_range(first, buf.len())?;
        self.guarded(|s| {
            // Blocks neither in the transaction nor cached are read from the
            // device: one request per run of consecutive misses, all runs
            // submitted as one batch (several in flight on a queued device).
            let mut misses: Vec<(u64, u64)> = Vec::new();
            for (i, slot) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
                let block = first + i as u64;
                if let Some(data) = s.txn.as_ref().and_then(|t| t.writes.get(&block)) {
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.fresh.get(block) {
                    // Fresh data of the open transaction not yet sent.
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.cache.get(block) {
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.overlay.get(&block) {
                    slot.copy_from_slice(data);
                } else {
                    match misses.last_mut() {
                        Some((start, len)) if *start + *len == i as u64 => *len += 1,
                        _ => misses.push((i as u64, 1)),
                    }
                }
            }
            if misses.is_empty() {
                return Ok(());
            }
            let mut batch: Vec<IoRequest<'_>> = Vec::with_capacity(misses.len());
            let mut rest: &mut [u8] = buf;
            let mut consumed = 0u64;
            for &(start, len) in &misses {
                let (_, from_run) = core::mem::take(&mut rest)
                    .split_at_mut((start - consumed) as usize * BLOCK_SIZE);
                let (run, after) = from_run.split_at_mut(len as usize * BLOCK_SIZE);
                batch.push(IoRequest::Read {
                    first: first + start,
                    buf: run,
                });
                rest = after;
                consumed = start + len;
            }
            s.dev.submit(&mut batch)?;
            for request in &batch {
                // Long runs are bulk data: keep them out of the cache.
                if let IoRequest::Read { first, buf } = request {
                    if buf.len() <= 8 * BLOCK_SIZE {
                        for (k, data) in buf.chunks_exact(BLOCK_SIZE).enumerate() {
                            s.cache.insert_clean(first + k as u64, data);
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.verify_checksums(first, buf)
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.usable()?;
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.alloc.take_dirty();
        self.txn = Some(Txn::default());
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.txn_mut()?;
        let blocks = self.check_range(first, data.len())?;
        let root_start = self.sb.root_start;
        for b in first..first + blocks {
            if b < root_start {
                return Err(Error::Reserved { block: b });
            }
            if !self.alloc.is_allocated(b) {
                return Err(Error::NotAllocated { block: b });
            }
        }
        self.check_txn_size(Extent::new(first, blocks), true)?;
        self.guarded(|s| {
            // Table entries first: loading a table block can fail, the
            // insertion of the data cannot, so the two never disagree.
            s.set_checksums(Extent::new(first, blocks), |b| {
                let at = (b - first) as usize * BLOCK_SIZE;
                checksums::data_checksum(&data[at..at + BLOCK_SIZE])
            })?;
            let txn = s.txn_mut()?;
            for (i, chunk) in data.chunks_exact(BLOCK_SIZE).enumerate() {
                txn.writes.insert(first + i as u64, chunk.into());
            }
            Ok(())
        })
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let blocks = self.check_range(first, data.len())?;
        let txn = self.txn.as_ref().ok_or(Error::NoTransaction)?;
        for b in first..first + blocks {
            if !txn.allocated_here(b) || !self.alloc.is_allocated(b) {
                return Err(Error::NotFresh { block: b });
            }
        }
        self.usable()?;
        self.check_txn_size(Extent::new(first, blocks), false)?;
        self.guarded(|s| {
            s.set_checksums(Extent::new(first, blocks), |b| {
                let at = (b - first) as usize * BLOCK_SIZE;
                checksums::data_checksum(&data[at..at + BLOCK_SIZE])
            })?;
            if let Some(txn) = s.txn.as_mut() {
                txn.wrote_fresh = true;
                for b in first..first + blocks {
                    // A later unjournaled write replaces an earlier journaled one.
                    txn.writes.remove(&b);
                }
            }
            for b in first..first + blocks {
                s.cache.remove(b);
            }
            s.buffer_fresh(first, data)
        })
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.txn_mut()?;
        if count == 0 {
            return Err(Error::BadLength { len: 0 });
        }
        let extent = match self.alloc.find_free_run(count) {
            Some(e) => e,
            None if self.reserved_waiting => {
                // Blocks freed by committed transactions come back after a checkpoint.
                self.checkpoint()?;
                self.alloc.find_free_run(count).ok_or(Error::NoSpace)?
            }
            None => return Err(Error::NoSpace),
        };
        self.check_txn_size(extent, false)?;
        // Until its first write the new block's old contents have no checksum.
        self.guarded(|s| s.set_checksums(extent, |_| checksums::NONE))?;
        self.alloc.set(extent, true);
        self.txn_mut()?.ops.push(AllocOp::Allocated(extent));
        Ok(extent)
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.txn_mut()?;
        if extent.len == 0 {
            return Err(Error::BadLength { len: 0 });
        }
        if extent
            .start
            .checked_add(extent.len)
            .is_none_or(|end| end > self.sb.block_count)
        {
            return Err(Error::OutOfRange {
                first: extent.start,
                blocks: extent.len,
                block_count: self.sb.block_count,
            });
        }
        for b in extent.start..extent.end() {
            if b < self.sb.data_start {
                return Err(Error::Reserved { block: b });
            }
            if !self.alloc.is_allocated(b) {
                return Err(Error::NotAllocated { block: b });
            }
        }
        self.alloc.set(extent, false);
        self.alloc.reserve(extent, true);
        self.txn_mut()?.ops.push(AllocOp::Freed(extent));
        Ok(())
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        if block >= self.sb.block_count {
            return Err(Error::OutOfRange {
                first: block,
                blocks: 1,
                block_count: self.sb.block_count,
            });
        }
        Ok(self.alloc.is_allocated(block))
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.usable()?;
        self.guarded(|s| s.do_commit(durability))
    }

    fn abort(&mut self) {
        // Fresh data of an aborted transaction lands in blocks it freed: drop it.
        self.fresh.clear();
        if let Some(txn) = self.txn.take() {
            for op in txn.ops.iter().rev() {
                match *op {
                    AllocOp::Allocated(e) => self.alloc.set(e, false),
                    AllocOp::Freed(e) => {
                        self.alloc.reserve(e, false);
                        self.alloc.set(e, true);
                    }
                }
            }
            self.alloc.take_dirty();
        }
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.usable()?;
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.guarded(|s| s.sync_journal())
    }
}
