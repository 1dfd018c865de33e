//! Reading the whole live log: [`scan_log`] replays it from the tail and
//! tells a torn tail from a durable transaction lost in the middle (the
//! gap scan for a later commit vouching for it); [`replay_images`] reads
//! the checked transactions again to write their images home.

use alloc::vec::Vec;

use super::{read_transaction, LogEnd, Replayed};
use crate::journal::{decode_record, Record};
use crate::superblock::Superblock;
use crate::BLOCK_SIZE;

/// A journal block found bad and repaired (or, for a copy or a parity
/// block, not needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repair {
    /// Offset in the journal region.
    pub offset: u64,
    /// The transaction it belongs to.
    pub seq: u64,
    /// A later commit vouches that the transaction was durable, so the bad
    /// block is damage, not a write torn by a power cut.
    pub durable: bool,
}

/// A transaction beyond repair that a later commit vouches was durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub offset: u64,
    pub seq: u64,
    /// The later transaction whose commit vouches for it.
    pub later_seq: u64,
}

/// What reading the live log found.
#[derive(Debug)]
pub struct LogScan {
    /// Offset and sequence number just past the last transaction replayed.
    pub end: u64,
    pub next_seq: u64,
    pub replayed: u64,
    /// Why replay stopped (`None`: the caller's `apply` refused a transaction).
    pub stop: Option<LogEnd>,
    pub repairs: Vec<Repair>,
    pub gap: Option<Gap>,
}

/// Blocks of the rest of the journal read at once by the gap scan.
const SCAN_RUN: u64 = 256;

/// Replays the log of `sb`, handing each whole transaction to `apply`
/// (which returns `false` to stop before it), then, unless the log ended
/// at a stale record or filled the journal, scans the rest of the journal
/// for a commit vouching for the transaction replay stopped at.
pub fn scan_log<E>(
    mut read: impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    sb: &Superblock,
    mut apply: impl FnMut(Replayed) -> bool,
) -> Result<LogScan, E> {
    let jb = sb.journal_blocks;
    let (mut at, mut seq, mut scanned) = (sb.journal_tail, sb.journal_tail_seq, 0u64);
    let mut repairs = Vec::new();
    let mut vouched = 0u64;
    let stop = loop {
        let t = read_transaction(
            &mut read,
            jb,
            at,
            jb - scanned,
            (sb.journal_epoch, seq),
            |_| Ok(()),
        )?;
        match t {
            Ok(t) => {
                let (blocks, durable_through) = (t.blocks, t.durable_through);
                let damaged: Vec<u64> = t.damaged.clone();
                if !apply(t) {
                    break None;
                }
                repairs.extend(damaged.into_iter().map(|offset| Repair {
                    offset,
                    seq,
                    durable: false,
                }));
                vouched = vouched.max(durable_through);
                at = (at + blocks) % jb;
                scanned += blocks;
                seq += 1;
            }
            Err(end) => break Some(end),
        }
    };
    let mut gap = None;
    if let Some(end) = &stop {
        if !matches!(end, LogEnd::Stale { .. } | LogEnd::Full) {
            let (later, reach) = later_commits(&mut read, sb, at, jb - scanned, seq)?;
            vouched = vouched.max(reach);
            if let Some(later_seq) = later {
                gap = Some(Gap {
                    offset: at,
                    seq,
                    later_seq,
                });
            }
        }
    }
    for r in &mut repairs {
        r.durable = r.seq <= vouched;
    }
    Ok(LogScan {
        end: at,
        next_seq: seq,
        replayed: seq - sb.journal_tail_seq,
        stop,
        repairs,
        gap,
    })
}

/// Reads the first `transactions` transactions of the log of `sb` again
/// (after `scan_log` checked them), handing every group of images to
/// `on_group` in log order. `Ok(Err(seq))`: transaction `seq` no longer
/// reads whole (the disk changed between the two reads).
pub fn replay_images<E>(
    mut read: impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    sb: &Superblock,
    transactions: u64,
    mut on_group: impl FnMut(&[(u64, Vec<u8>)]) -> Result<(), E>,
) -> Result<Result<(), u64>, E> {
    let jb = sb.journal_blocks;
    let (mut at, mut scanned) = (sb.journal_tail, 0u64);
    for seq in sb.journal_tail_seq..sb.journal_tail_seq + transactions {
        let id = (sb.journal_epoch, seq);
        match read_transaction(&mut read, jb, at, jb - scanned, id, &mut on_group)? {
            Ok(t) => {
                at = (at + t.blocks) % jb;
                scanned += t.blocks;
            }
            Err(_) => return Ok(Err(seq)),
        }
    }
    Ok(Ok(()))
}

/// Scans `count` journal blocks from `at` for commits of the current epoch
/// after `seq`. Returns the first one whose `durable_through` reaches
/// `seq` (it proves `seq` was durable), and the highest `durable_through`
/// of them all.
fn later_commits<E>(
    read: &mut impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    sb: &Superblock,
    at: u64,
    count: u64,
    seq: u64,
) -> Result<(Option<u64>, u64), E> {
    let jb = sb.journal_blocks;
    let (mut first, mut reach, mut done) = (None, 0u64, 0u64);
    while done < count {
        let offset = (at + done) % jb;
        let n = (count - done).min(SCAN_RUN).min(jb - offset);
        let bytes = read(offset, n)?;
        for block in bytes.chunks_exact(BLOCK_SIZE) {
            if let Ok(Record::Commit {
                epoch,
                seq: s,
                durable_through,
                ..
            }) = decode_record(block)
            {
                if epoch == sb.journal_epoch && s > seq {
                    reach = reach.max(durable_through);
                    if durable_through >= seq && first.is_none_or(|f| s < f) {
                        first = Some(s);
                    }
                }
            }
        }
        done += n;
    }
    Ok((first, reach))
}
