//! Mounting, in named steps: pick the newest valid superblock copy, check
//! the journal from its tail (`replay.rs` reads it, `journal.rs` gives the
//! rules), read it again writing the replayed images home a group at a
//! time, then both superblock copies of a new epoch (or, when the disk
//! fails a write, mount read-only with the images in memory, up to
//! `READ_ONLY_REPLAY_BLOCKS`), then load the bitmap.
//!
//! Replay memory is bounded by one group of images (1.4 MiB), whatever
//! the journal's size: the images are never gathered (writing them home
//! twice is harmless: until the new superblock is durable the next mount
//! replays the same log again).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use super::compound::Compound;
use super::io::Counted;
use super::{log_event, repair_text, BlockStore, Config, Stats, DEFAULT_FRESH_BUFFER_BLOCKS};
use crate::bitmap::{self, Allocator};
use crate::cache::Cache;
use crate::device::write_sorted;
use crate::error::{Corruption, Error};
use crate::fresh::FreshBuffer;
use crate::replay::{self, LogEnd, LogScan};
use crate::superblock::{self, Superblock, SUPERBLOCK_BLOCKS};
use crate::{BlockDevice, BLOCK_SIZE};

/// Replayed blocks a read-only mount (the disk failed a write while
/// recovering) holds in memory, 8 MiB: a bigger replay refuses the mount
/// with `Error::ReplayTooLarge` rather than outgrow the service.
pub const READ_ONLY_REPLAY_BLOCKS: u64 = 2048;

impl<D: BlockDevice> BlockStore<D> {
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
        let scan = Self::check_journal(&mut dev, &sb, &mut events)?;
        let (at, seq) = (scan.end, scan.next_seq);
        stats.transactions_replayed = scan.replayed;
        let new = Superblock {
            generation: sb.generation.max(other) + 1,
            journal_epoch: sb.journal_epoch + 1,
            journal_tail: at,
            journal_tail_seq: seq,
            ..sb
        };
        let (sb, overlay) = Self::recover(&mut dev, new, sb, &stats, &mut events)?;
        let alloc = Self::load_allocator(&mut dev, &sb, &overlay)?;
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
            compound: Compound::default(),
            pending: Vec::new(),
            // `seq >= journal_tail_seq >= 1` (superblock.rs bounds it).
            written_seq: seq - 1,
            durable_seq: seq - 1,
            fresh_unflushed: false,
            fresh: FreshBuffer::default(),
            fresh_limit_blocks: DEFAULT_FRESH_BUFFER_BLOCKS,
            spare_images: Vec::new(),
            reserved_waiting: false,
            journal_repairs: scan.repairs,
            overlay,
            stats,
            events,
        })
    }

    /// Replay's first read: finds the valid transactions from the tail,
    /// keeping none of their images. Refuses the mount when a durable
    /// transaction was lost in the middle of the log (`JournalGap`); logs
    /// where and why replay stopped, and the repairs.
    fn check_journal(
        dev: &mut Counted<D>,
        sb: &Superblock,
        events: &mut VecDeque<String>,
    ) -> Result<LogScan, Error> {
        let start = sb.journal_start;
        let scan = replay::scan_log(
            |o, n| {
                let mut b = vec![0u8; n as usize * BLOCK_SIZE];
                dev.read(start + o, &mut b).map(|_| b)
            },
            sb,
            |t| {
                if let Some(home) = t.homes.iter().find(|h| !Self::journaled_home(sb, **h)) {
                    log_event(events, format!(
                        "journal replay stopped at transaction {}: it names block {home}, which no transaction may write",
                        t.seq
                    ));
                    return false;
                }
                true
            },
        )?;
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
                    events,
                    format!(
                        "journal replay stopped at transaction {}: {end:?}",
                        scan.next_seq
                    ),
                );
            }
        }
        for r in &scan.repairs {
            log_event(events, repair_text(sb, r));
        }
        Ok(scan)
    }

    /// Replay's second read: hands every group of images of the first
    /// `transactions` transactions of `sb`'s log (checked by
    /// `check_journal`) to `on_group`, in log order.
    fn replay_groups(
        dev: &mut Counted<D>,
        sb: &Superblock,
        transactions: u64,
        mut on_group: impl FnMut(&mut Counted<D>, &[(u64, Vec<u8>)]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let start = sb.journal_start;
        // Reading the journal and acting on a group both use the device,
        // never at the same time.
        let dev = RefCell::new(dev);
        let whole = replay::replay_images(
            |o, n| {
                let mut b = vec![0u8; n as usize * BLOCK_SIZE];
                dev.borrow_mut().read(start + o, &mut b)?;
                Ok::<_, Error>(b)
            },
            sb,
            transactions,
            |group| on_group(&mut dev.borrow_mut(), group),
        )?;
        whole.map_err(|seq| Error::Corrupt {
            block: start + sb.journal_tail,
            detail: Corruption::Field {
                name: "journal transaction that no longer reads whole on replay's second read",
                value: seq,
            },
        })
    }

    /// Writes the replayed images home and the superblock `new` of the new
    /// epoch. Returns the current superblock and the overlay of images a
    /// read-only mount serves from memory (empty unless the disk failed a
    /// write or flush; then `old` stays current).
    fn recover(
        dev: &mut Counted<D>,
        new: Superblock,
        old: Superblock,
        stats: &Stats,
        events: &mut VecDeque<String>,
    ) -> Result<(Superblock, BTreeMap<u64, Vec<u8>>), Error> {
        let replayed = stats.transactions_replayed;
        match Self::finish_recovery(dev, &old, replayed, new) {
            Ok((sb, blocks)) => {
                if replayed > 0 {
                    log_event(
                        events,
                        format!("replayed {replayed} transactions ({blocks} block images)"),
                    );
                }
                Ok((sb, BTreeMap::new()))
            }
            // The disk failed a write or flush: mount read-only, serving the
            // replayed images from memory (up to `READ_ONLY_REPLAY_BLOCKS`).
            // The journal on the disk is untouched, so the next mount
            // replays it again.
            Err(Error::Device(_)) if dev.fault.is_some() => {
                let mut images: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
                Self::replay_groups(dev, &old, replayed, |_, group| {
                    for (home, image) in group {
                        images.insert(*home, image.clone());
                    }
                    match images.len() as u64 {
                        n if n > READ_ONLY_REPLAY_BLOCKS => Err(Error::ReplayTooLarge {
                            blocks: n,
                            limit: READ_ONLY_REPLAY_BLOCKS,
                        }),
                        _ => Ok(()),
                    }
                })?;
                if let Some(fault) = dev.fault {
                    log_event(events, format!(
                        "{fault} while recovering: the store is read-only until the next boot; the {replayed} replayed transactions are served from memory",
                    ));
                }
                Ok((old, images))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads and checks every bitmap block (from the overlay where a
    /// read-only mount holds a replayed image of it).
    fn load_allocator(
        dev: &mut Counted<D>,
        sb: &Superblock,
        overlay: &BTreeMap<u64, Vec<u8>>,
    ) -> Result<Allocator, Error> {
        let mut words = Vec::with_capacity(sb.bitmap_blocks as usize * bitmap::WORDS_PER_BLOCK);
        let mut buf = vec![0u8; BLOCK_SIZE];
        for i in 0..sb.bitmap_blocks {
            match overlay.get(&(sb.bitmap_start + i)) {
                Some(image) => buf.copy_from_slice(image),
                None => dev.read(sb.bitmap_start + i, &mut buf)?,
            }
            words.extend(bitmap::decode_block(sb.bitmap_start + i, i, &buf)?);
        }
        Allocator::from_words(sb.block_count, sb.data_start, sb.bitmap_start, words)
    }

    /// Writes the images of `old`'s first `transactions` home a group at
    /// a time, flushes, then writes both superblock copies of the new
    /// epoch (records past the log's end, written before the cut, become
    /// stale). Returns the superblock now current and the images written.
    fn finish_recovery(
        dev: &mut Counted<D>,
        old: &Superblock,
        transactions: u64,
        sb: Superblock,
    ) -> Result<(Superblock, u64), Error> {
        let mut blocks = 0u64;
        Self::replay_groups(dev, old, transactions, |dev, group| {
            let mut set: Vec<(u64, &[u8])> = group.iter().map(|(b, d)| (*b, &d[..])).collect();
            blocks += set.len() as u64;
            write_sorted(dev, &mut set)?;
            Ok(())
        })?;
        dev.flush()?;
        // Both copies, so a damaged one later loses nothing (superblock.rs).
        Ok((superblock::write_pair(dev, sb)?, blocks))
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
}
