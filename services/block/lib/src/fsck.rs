//! fsck: checks the block layer's structures on disk and, with the help of
//! the layers above, that every allocated block is used exactly once.
//!
//! Extending it: `BlockStore::fsck` checks the superblocks, the bitmap and
//! the journal and returns a [`Fsck`]. An upper layer then walks its own
//! structures, calls [`Fsck::mark_used`] for every block it references (a
//! block used twice, or used but free, is reported at once), appends its own
//! findings with [`Fsck::report_mut`], and calls [`Fsck::finish`], which
//! reports allocated blocks that nobody marked (leaks).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::bitmap::{self, Allocator};
use crate::checksums;
use crate::error::Error;
use crate::replay::{self, Repair};
use crate::superblock::{Superblock, SUPERBLOCK_BLOCKS};
use crate::{BlockDevice, BlockStore, Extent, BLOCK_SIZE};

/// What kind of inconsistency a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// A superblock copy is unreadable or disagrees with the current one.
    Superblock,
    /// A bitmap block is unreadable or disagrees with the committed state.
    Bitmap,
    /// The journal holds something it should not.
    Journal,
    /// A block is in use by some structure but marked free.
    UsedButFree,
    /// A block is used by two structures.
    UsedTwice,
    /// An allocated block that no structure uses.
    Leaked,
    /// A structure names a block outside the store.
    OutOfRange,
    /// A data block whose contents do not match its checksum table entry
    /// (stores formatted with data checksums), or an unusable table block.
    DataChecksum,
    /// A finding of an upper layer (bad checksum, broken order, ...).
    Upper,
}

/// One inconsistency, in plain words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub block: Option<u64>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything fsck found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsckReport {
    findings: Vec<Finding>,
    /// Facts worth telling that are not inconsistencies (e.g. transactions
    /// waiting in the journal for the next mount to replay).
    pub notes: Vec<String>,
    /// Blocks whose ownership was checked.
    pub blocks_checked: u64,
}

impl FsckReport {
    pub fn push(&mut self, kind: FindingKind, block: Option<u64>, message: String) {
        self.findings.push(Finding {
            kind,
            block,
            message,
        });
    }
    /// A repaired journal block, told as `text`: damage where a later
    /// commit proves the transaction durable, a note where it may be a
    /// torn write.
    fn push_repair(&mut self, sb: &Superblock, r: &Repair, text: String) {
        if r.durable {
            self.push(
                FindingKind::Journal,
                Some(sb.journal_start + r.offset),
                text,
            );
        } else {
            self.notes.push(text);
        }
    }
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for FsckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.findings.is_empty() {
            return writeln!(f, "clean: {} blocks checked", self.blocks_checked);
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        writeln!(f, "{} problems found", self.findings.len())
    }
}

/// A check in progress: the committed bitmap and the blocks marked used so far.
pub struct Fsck {
    report: FsckReport,
    alloc: Allocator,
    used: Vec<u64>,
}

fn bit(words: &[u64], b: u64) -> bool {
    words
        .get((b / 64) as usize)
        .is_some_and(|w| w >> (b % 64) & 1 == 1)
}

impl Fsck {
    pub fn report_mut(&mut self) -> &mut FsckReport {
        &mut self.report
    }
    pub fn block_count(&self) -> u64 {
        self.alloc.block_count()
    }
    pub fn is_allocated(&self, block: u64) -> bool {
        self.alloc.is_allocated(block)
    }
    /// Runs of allocated blocks, in block order.
    pub fn allocated_extents(&self) -> Vec<Extent> {
        self.alloc.allocated_runs()
    }

    /// Records that `owner` uses `extent`; reports blocks out of range,
    /// free, or already used by something else.
    pub fn mark_used(&mut self, extent: Extent, owner: &str) {
        let n = self.alloc.block_count();
        if extent
            .start
            .checked_add(extent.len)
            .is_none_or(|end| end > n)
        {
            self.report.push(
                FindingKind::OutOfRange,
                Some(extent.start),
                format!(
                    "{owner} uses blocks {}..{} past the end of the store ({n} blocks)",
                    extent.start,
                    extent.start.saturating_add(extent.len)
                ),
            );
            return;
        }
        for b in extent.start..extent.end() {
            self.report.blocks_checked += 1;
            if bit(&self.used, b) {
                self.report.push(
                    FindingKind::UsedTwice,
                    Some(b),
                    format!("block {b} used by {owner} is also used by another structure"),
                );
            } else if let Some(w) = self.used.get_mut((b / 64) as usize) {
                *w |= 1 << (b % 64);
            }
            if !self.alloc.is_allocated(b) {
                self.report.push(
                    FindingKind::UsedButFree,
                    Some(b),
                    format!("block {b} is used by {owner} but marked free"),
                );
            }
        }
    }

    /// Ends the check: every allocated block no one marked is reported as leaked.
    pub fn finish(mut self) -> FsckReport {
        for run in self.alloc.allocated_runs() {
            let mut leak: Option<u64> = None;
            for b in run.start..=run.end() {
                let unused = b < run.end() && !bit(&self.used, b);
                match (unused, leak) {
                    (true, None) => leak = Some(b),
                    (false, Some(s)) => {
                        let msg = if b - s == 1 {
                            format!("block {s} is allocated but nothing uses it (leaked)")
                        } else {
                            format!(
                                "blocks {s}..{} are allocated but nothing uses them (leaked)",
                                b - 1
                            )
                        };
                        self.report.push(FindingKind::Leaked, Some(s), msg);
                        leak = None;
                    }
                    _ => {}
                }
            }
        }
        self.report
    }

    /// Ends a check of the block layer alone (no upper layer marked its
    /// blocks, so leaks cannot be told).
    pub fn finish_structures_only(self) -> FsckReport {
        self.report
    }
}

impl<D: BlockDevice> BlockStore<D> {
    /// Checkpoints, then checks the block layer's structures as they are on
    /// the disk: both superblocks, every bitmap block against the committed
    /// allocation state, and that the journal holds no live record. The
    /// block layer's own regions are marked used. Refused inside a transaction.
    pub fn fsck(&mut self) -> Result<Fsck, Error> {
        if self.in_transaction() {
            return Err(Error::TransactionOpen);
        }
        let mut report = FsckReport::default();
        // A read-only store cannot checkpoint: the disk may lag the committed
        // state, so only what the disk must hold whatever it lags is checked.
        let lagging = self.read_only();
        match lagging {
            Some(fault) => report.notes.push(format!(
                "the store is read-only ({fault}); the bitmap, journal and data checksums on the disk may lag the committed state and are not compared with it"
            )),
            None => self.checkpoint()?,
        }
        let sb = *self.superblock();
        // Journal blocks mount repaired: damage where a later commit proves
        // the transaction durable, a note where it may be a torn write.
        for r in self.journal_repairs() {
            let text = crate::store::repair_text(&sb, r);
            report.push_repair(&sb, r, text);
        }
        let committed = self.allocator().words().to_vec();
        let dev = self.device_mut();
        let mut buf = vec![0u8; BLOCK_SIZE];
        for block in SUPERBLOCK_BLOCKS {
            dev.read(block, &mut buf)?;
            match Superblock::decode(block, &buf) {
                Ok(copy) if copy.generation == sb.generation && copy != sb => report.push(
                    FindingKind::Superblock,
                    Some(block),
                    format!("superblock copy in block {block} has the current generation {} but other contents", sb.generation),
                ),
                Ok(copy) if copy.generation > sb.generation => report.push(
                    FindingKind::Superblock,
                    Some(block),
                    format!("superblock copy in block {block} has generation {}, newer than the one in use ({})", copy.generation, sb.generation),
                ),
                Ok(copy) if copy.generation != sb.generation && (copy.block_count, copy.journal_start, copy.data_start) != (sb.block_count, sb.journal_start, sb.data_start) => report.push(
                    FindingKind::Superblock,
                    Some(block),
                    format!("superblock copy in block {block} describes a different geometry"),
                ),
                // Both copies name one journal after every update
                // (superblock.rs); a read-only store may have stopped between
                // the two writes, so it is only held to that when writable.
                Ok(copy) if lagging.is_none() && (copy.journal_tail, copy.journal_tail_seq, copy.journal_epoch) != (sb.journal_tail, sb.journal_tail_seq, sb.journal_epoch) => report.push(
                    FindingKind::Superblock,
                    Some(block),
                    format!("superblock copy in block {block} names another journal position (tail {}, seq {}, epoch {}) than the current copy (tail {}, seq {}, epoch {}): were the current copy damaged, acknowledged work would be rolled back", copy.journal_tail, copy.journal_tail_seq, copy.journal_epoch, sb.journal_tail, sb.journal_tail_seq, sb.journal_epoch),
                ),
                Ok(_) => {}
                Err(e) => report.push(FindingKind::Superblock, Some(block), format!("superblock copy in block {block} is unusable: {e}")),
            }
        }
        let mut words = Vec::with_capacity(sb.bitmap_blocks as usize * bitmap::WORDS_PER_BLOCK);
        for i in 0..sb.bitmap_blocks {
            let block = sb.bitmap_start + i;
            dev.read(block, &mut buf)?;
            match bitmap::decode_block(block, i, &buf) {
                Ok(w) => {
                    if lagging.is_none() && w != block_words(&committed, i) {
                        report.push(FindingKind::Bitmap, Some(block), format!("bitmap block {block} on disk differs from the committed allocation state"));
                    }
                    words.extend(w);
                }
                Err(e) => {
                    report.push(
                        FindingKind::Bitmap,
                        Some(block),
                        format!("bitmap block {block} is unusable: {e}"),
                    );
                    words.extend(block_words(&committed, i));
                }
            }
        }
        if let Err(e) = Allocator::from_words(sb.block_count, sb.data_start, sb.bitmap_start, words)
        {
            report.push(
                FindingKind::Bitmap,
                None,
                format!("bitmap breaks an invariant: {e}"),
            );
        }
        // After a checkpoint the record at the tail must not be a live transaction.
        let start = sb.journal_start;
        let dev = self.device_mut();
        let live = replay::read_transaction(
            |o, n| {
                let mut b = vec![0u8; n as usize * BLOCK_SIZE];
                dev.read(start + o, &mut b).map(|_| b)
            },
            sb.journal_blocks,
            sb.journal_tail,
            sb.journal_blocks,
            (sb.journal_epoch, sb.journal_tail_seq),
            |_| Ok(()),
        )?;
        if let (Ok(t), None) = (live, lagging) {
            report.push(
                FindingKind::Journal,
                Some(sb.journal_start + sb.journal_tail),
                format!(
                    "journal holds transaction {} past the checkpointed tail",
                    t.seq
                ),
            );
        }
        if sb.data_checksums() && lagging.is_none() {
            check_data_checksums(self.device_mut(), &sb, &committed, &mut report)?;
        }
        let alloc = self.allocator().clone();
        let used = vec![0u64; alloc.words().len()];
        let mut fsck = Fsck {
            report,
            alloc,
            used,
        };
        fsck.mark_used(Extent::new(0, sb.data_start), "the block layer");
        Ok(fsck)
    }

    /// fsck of the block layer alone: structures only, no leak check.
    pub fn check(&mut self) -> Result<FsckReport, Error> {
        Ok(self.fsck()?.finish_structures_only())
    }
}

/// Reads every allocated block outside the block layer's region and
/// compares it with its checksum table entry (as on disk after a checkpoint).
fn check_data_checksums<D: BlockDevice>(
    dev: &mut D,
    sb: &Superblock,
    allocated: &[u64],
    report: &mut FsckReport,
) -> Result<(), Error> {
    let mut table = vec![0u8; BLOCK_SIZE];
    let mut data = vec![0u8; BLOCK_SIZE];
    for index in 0..sb.checksum_blocks {
        let home = sb.checksum_start + index;
        dev.read(home, &mut table)?;
        if let Err(e) = checksums::check(home, index, &table) {
            report.push(
                FindingKind::DataChecksum,
                Some(home),
                format!("checksum table block {home} is unusable: {e}"),
            );
            continue;
        }
        let first = (index * checksums::ENTRIES_PER_BLOCK).max(sb.root_start);
        let end = ((index + 1) * checksums::ENTRIES_PER_BLOCK).min(sb.block_count);
        for block in first..end {
            let is_allocated = allocated
                .get((block / 64) as usize)
                .is_some_and(|w| w >> (block % 64) & 1 == 1);
            let stored = checksums::entry(&table, checksums::locate(block).1);
            if !is_allocated || stored == checksums::NONE {
                continue;
            }
            dev.read(block, &mut data)?;
            let computed = checksums::data_checksum(&data);
            if computed != stored {
                report.push(
                    FindingKind::DataChecksum,
                    Some(block),
                    format!("block {block} has a bad checksum (stored {stored:#010x}, computed {computed:#010x})"),
                );
            }
        }
    }
    Ok(())
}

/// Checks a device without mounting it and without writing anything: for a
/// disk that does not mount, or before mounting. Reports unusable
/// superblock copies and bitmap blocks, broken bitmap invariants, and notes
/// how many committed transactions wait in the journal (the bitmap at home
/// may lag behind them until mount replays them).
pub fn check_device<D: BlockDevice>(dev: &mut D) -> Result<FsckReport, Error> {
    let mut report = FsckReport::default();
    let mut buf = vec![0u8; BLOCK_SIZE];
    let mut best: Option<Superblock> = None;
    for block in SUPERBLOCK_BLOCKS {
        dev.read(block, &mut buf)?;
        match Superblock::decode(block, &buf) {
            Ok(sb) => {
                if best.is_none_or(|b| sb.generation > b.generation) {
                    best = Some(sb);
                }
            }
            Err(e) => report.push(
                FindingKind::Superblock,
                Some(block),
                format!("superblock copy in block {block} is unusable: {e}"),
            ),
        }
    }
    let Some(sb) = best else {
        report.push(
            FindingKind::Superblock,
            None,
            "no usable superblock: this is not a block store, or it is lost".into(),
        );
        return Ok(report);
    };
    if dev.block_count() < sb.block_count {
        report.push(
            FindingKind::Superblock,
            None,
            format!(
                "superblock says {} blocks, the device has {}",
                sb.block_count,
                dev.block_count()
            ),
        );
        return Ok(report);
    }
    let start = sb.journal_start;
    let scan = replay::scan_log(
        |o, n| {
            let mut b = vec![0u8; n as usize * BLOCK_SIZE];
            dev.read(start + o, &mut b).map(|_| b)
        },
        &sb,
        |_| true,
    )?;
    let waiting = scan.replayed;
    for r in &scan.repairs {
        let text =
            crate::store::repair_text(&sb, r).replace("replay repaired", "mount will repair");
        report.push_repair(&sb, r, text);
    }
    if let Some(gap) = scan.gap {
        report.push(
            FindingKind::Journal,
            Some(sb.journal_start + gap.offset),
            format!(
                "journal block {}: {}",
                sb.journal_start + gap.offset,
                crate::Corruption::JournalGap {
                    seq: gap.seq,
                    later_seq: gap.later_seq
                }
            ),
        );
    }
    if waiting > 0 {
        report.notes.push(format!(
            "{waiting} committed transactions wait in the journal; mount replays them"
        ));
    }
    let mut words = Vec::with_capacity(sb.bitmap_blocks as usize * bitmap::WORDS_PER_BLOCK);
    let mut bitmap_ok = true;
    for i in 0..sb.bitmap_blocks {
        let block = sb.bitmap_start + i;
        dev.read(block, &mut buf)?;
        match bitmap::decode_block(block, i, &buf) {
            Ok(w) => words.extend(w),
            Err(e) => {
                bitmap_ok = false;
                report.push(
                    FindingKind::Bitmap,
                    Some(block),
                    format!("bitmap block {block} is unusable: {e}"),
                );
            }
        }
    }
    for index in 0..sb.checksum_blocks {
        let home = sb.checksum_start + index;
        dev.read(home, &mut buf)?;
        if let Err(e) = checksums::check(home, index, &buf) {
            report.push(
                FindingKind::DataChecksum,
                Some(home),
                format!("checksum table block {home} is unusable: {e}"),
            );
        }
    }
    if bitmap_ok {
        if let Err(e) = Allocator::from_words(sb.block_count, sb.data_start, sb.bitmap_start, words)
        {
            report.push(
                FindingKind::Bitmap,
                None,
                format!("bitmap breaks an invariant: {e}"),
            );
        }
    }
    Ok(report)
}

/// The words of bitmap block `index` within all the bitmap's words.
fn block_words(words: &[u64], index: u64) -> Vec<u64> {
    let at = index as usize * bitmap::WORDS_PER_BLOCK;
    words
        .get(at..at + bitmap::WORDS_PER_BLOCK)
        .map(<[u64]>::to_vec)
        .unwrap_or_default()
}
