//! The write-ahead journal: a circular log of transactions made of block
//! images (physical redo records), each closed by a checksummed commit record.
//!
//! # Byte layout (all integers little-endian)
//! A transaction is `[descriptor][image]*..[descriptor][image]*..[commit]`,
//! written at consecutive journal offsets (wrapping at the region's end).
//!
//! Descriptor block:
//! ```text
//! offset size field
//!  0     4    magic      "JDSC" = 0x4353_444A
//!  4     4    checksum   CRC-32C of this block with this field zeroed
//!  8     8    epoch      mount epoch that wrote it (superblock journal_epoch)
//! 16     8    seq        transaction sequence number
//! 24     4    tag_count  1..=508 images follow, one per tag
//! 28     4    zero
//! 32   8*508  tags       home block number of each following image
//! ```
//! Image block: the 4096 bytes to write at its tag's home block.
//!
//! Commit block:
//! ```text
//! offset size field
//!  0     4    magic          "JCMT" = 0x544D_434A
//!  4     4    checksum       CRC-32C of this block with this field zeroed
//!  8     8    epoch
//! 16     8    seq
//! 24     4    record_blocks  descriptor and image blocks before this commit
//! 28     4    txn_checksum   CRC-32C of those blocks, in log order
//! 32  4064    zero
//! ```
//! The superblock names the tail (offset of the oldest live transaction),
//! the sequence number expected there and the epoch.
//!
//! # Invariants
//! - Live transactions occupy `[tail, head)` with consecutive sequence
//!   numbers of the current epoch; a transaction's records are never
//!   overwritten before every block it images is durable at home and a
//!   superblock naming a later tail is durable (checkpoint).
//! - A dirty cached block never reaches its home before the commit record
//!   covering it is durable (`BlockStore::write_home`).
//! - A block freed by a live transaction is not reused until the journal has
//!   been checkpointed past it, so replaying an old image never overwrites
//!   newer unjournaled data (no revoke records are needed).
//!
//! # Device assumptions
//! `flush` makes every earlier write durable; unflushed writes may be lost,
//! reordered, or torn at 512-byte sector granularity.
//!
//! # Commit protocol and its crash cases
//! Commit of transaction `s`: (a) if it wrote fresh (unjournaled) blocks,
//! flush, so they are durable before anything points at them (ext4's
//! ordered-data rule); (b) write its records and commit block in one batch;
//! (c) for `Durable`, flush and return. `Batched` returns after (b) or even
//! keeps the records in memory until the next flush (group commit).
//! 1. Cut before (a) completes: no record of `s` exists; its fresh blocks are
//!    free in every durable bitmap, so their contents are invisible.
//! 2. Cut during (b): any subset of `s`'s sectors is on disk, in any order.
//!    A missing or torn descriptor, image or commit block fails a checksum or
//!    the `txn_checksum`; replay stops before `s`. Transactions after `s`
//!    are not replayed either, so commits become durable in order.
//! 3. Cut after (b) reached the disk, with or without (c): replay finds `s`
//!    whole and applies it.
//! 4. Cut during a checkpoint's home writes: the journal still holds every
//!    live transaction; replay rewrites all their images (idempotent).
//! 5. Cut during the superblock write that moves the tail: the old tail is
//!    replayed again (case 4) or the new one is used; see `superblock.rs`.
//! 6. Cut during recovery: recovery writes only home blocks, then the
//!    superblock; the journal is unchanged, so the next mount replays the
//!    same transactions again.
//! 7. Records left past the head by an earlier lap carry a smaller sequence
//!    number; records written past a torn record before a cut carry the old
//!    epoch once mount bumped it. Both are refused, never replayed.

use alloc::vec::Vec;

use crate::checksum::{crc32c_skipping, Crc32c};
use crate::error::Corruption;
use crate::BLOCK_SIZE;

pub const DESCRIPTOR_MAGIC: u32 = u32::from_le_bytes(*b"JDSC");
pub const COMMIT_MAGIC: u32 = u32::from_le_bytes(*b"JCMT");
const OFF_MAGIC: usize = 0;
const OFF_CHECKSUM: usize = 4;
const OFF_EPOCH: usize = 8;
const OFF_SEQ: usize = 16;
const OFF_COUNT: usize = 24;
const OFF_TXN_CHECKSUM: usize = 28;
const OFF_TAGS: usize = 32;
/// Images described by one descriptor block.
pub const TAGS_PER_DESCRIPTOR: usize = (BLOCK_SIZE - OFF_TAGS) / 8;
const _: () = assert!(TAGS_PER_DESCRIPTOR == 508);
/// The smallest journal the format allows.
pub const MIN_JOURNAL_BLOCKS: u64 = 16;

/// Journal blocks a transaction of `images` block images occupies.
pub const fn blocks_needed(images: u64) -> u64 {
    images + images.div_ceil(TAGS_PER_DESCRIPTOR as u64) + 1
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
/// Reads at a fixed offset of a block whose length the caller checked.
fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn seal(b: &mut [u8]) {
    let crc = crc32c_skipping(b, OFF_CHECKSUM);
    put_u32(b, OFF_CHECKSUM, crc);
}

/// Encodes transaction `seq` of `epoch` writing `images` (home block, image)
/// into its journal blocks, in log order.
pub fn encode_transaction(epoch: u64, seq: u64, images: &[(u64, &[u8])]) -> Vec<u8> {
    let total = blocks_needed(images.len() as u64) as usize;
    let mut out = alloc::vec![0u8; total * BLOCK_SIZE];
    let mut at = 0usize;
    let mut txn_crc = Crc32c::new();
    for group in images.chunks(TAGS_PER_DESCRIPTOR) {
        let desc = &mut out[at..at + BLOCK_SIZE];
        put_u32(desc, OFF_MAGIC, DESCRIPTOR_MAGIC);
        put_u64(desc, OFF_EPOCH, epoch);
        put_u64(desc, OFF_SEQ, seq);
        put_u32(desc, OFF_COUNT, group.len() as u32);
        for (i, (home, _)) in group.iter().enumerate() {
            put_u64(desc, OFF_TAGS + i * 8, *home);
        }
        seal(desc);
        txn_crc.update(desc);
        at += BLOCK_SIZE;
        for (_, image) in group {
            out[at..at + BLOCK_SIZE].copy_from_slice(image);
            txn_crc.update(image);
            at += BLOCK_SIZE;
        }
    }
    let commit = &mut out[at..at + BLOCK_SIZE];
    put_u32(commit, OFF_MAGIC, COMMIT_MAGIC);
    put_u64(commit, OFF_EPOCH, epoch);
    put_u64(commit, OFF_SEQ, seq);
    put_u32(commit, OFF_COUNT, (total - 1) as u32);
    put_u32(commit, OFF_TXN_CHECKSUM, txn_crc.finish());
    seal(commit);
    out
}

/// A journal block, decoded and checked on its own.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Descriptor {
        epoch: u64,
        seq: u64,
        tags: Vec<u64>,
    },
    Commit {
        epoch: u64,
        seq: u64,
        record_blocks: u32,
        txn_checksum: u32,
    },
}

/// Decodes one journal block; `Err` says why it is not a valid record.
pub fn decode_record(b: &[u8]) -> Result<Record, Corruption> {
    if b.len() != BLOCK_SIZE {
        return Err(Corruption::Field {
            name: "length",
            value: b.len() as u64,
        });
    }
    let magic = get_u32(b, OFF_MAGIC);
    if magic != DESCRIPTOR_MAGIC && magic != COMMIT_MAGIC {
        return Err(Corruption::Magic {
            expected: COMMIT_MAGIC,
            found: magic,
        });
    }
    let stored = get_u32(b, OFF_CHECKSUM);
    let computed = crc32c_skipping(b, OFF_CHECKSUM);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    let epoch = get_u64(b, OFF_EPOCH);
    let seq = get_u64(b, OFF_SEQ);
    let count = get_u32(b, OFF_COUNT);
    if magic == COMMIT_MAGIC {
        return Ok(Record::Commit {
            epoch,
            seq,
            record_blocks: count,
            txn_checksum: get_u32(b, OFF_TXN_CHECKSUM),
        });
    }
    if count == 0 || count as usize > TAGS_PER_DESCRIPTOR {
        return Err(Corruption::Field {
            name: "tag_count",
            value: count.into(),
        });
    }
    let tags = (0..count as usize)
        .map(|i| get_u64(b, OFF_TAGS + i * 8))
        .collect();
    Ok(Record::Descriptor { epoch, seq, tags })
}

/// Why replay stopped where it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// The block at the head is not a record (or fails its checksum).
    NotARecord { offset: u64, why: Corruption },
    /// A valid record of another epoch or sequence number: stale.
    Stale { offset: u64, epoch: u64, seq: u64 },
    /// A transaction whose blocks do not match its commit record.
    TornTransaction {
        offset: u64,
        seq: u64,
        why: Corruption,
    },
    /// The log filled the whole journal.
    Full,
}

/// One transaction read back from the log.
pub struct Replayed {
    pub seq: u64,
    /// Journal blocks it occupies.
    pub blocks: u64,
    /// (home block, image) in log order; a later image of a block wins.
    pub images: Vec<(u64, Vec<u8>)>,
}

/// Reads the transaction at journal offset `at`, expecting `epoch`/`seq`.
/// `read(offset, count)` fetches `count` journal blocks from `offset`
/// (never past the region's end: runs are split where the log wraps), so a
/// descriptor's images come in at most two requests. Never reads more than
/// `limit` blocks. `Ok(Err(end))` when the log ends here.
pub fn read_transaction<E>(
    mut read: impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    journal_blocks: u64,
    at: u64,
    limit: u64,
    epoch: u64,
    seq: u64,
) -> Result<Result<Replayed, LogEnd>, E> {
    let mut images: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut used = 0u64;
    let mut txn_crc = Crc32c::new();
    loop {
        if used >= limit {
            return Ok(Err(LogEnd::Full));
        }
        let offset = (at + used) % journal_blocks;
        let block = read(offset, 1)?;
        let record = match decode_record(&block) {
            Ok(r) => r,
            Err(why) if used == 0 => return Ok(Err(LogEnd::NotARecord { offset, why })),
            Err(why) => return Ok(Err(LogEnd::TornTransaction { offset, seq, why })),
        };
        used += 1;
        match record {
            Record::Descriptor {
                epoch: e, seq: s, ..
            }
            | Record::Commit {
                epoch: e, seq: s, ..
            } if e != epoch || s != seq => {
                return Ok(Err(if used == 1 {
                    LogEnd::Stale {
                        offset,
                        epoch: e,
                        seq: s,
                    }
                } else {
                    LogEnd::TornTransaction {
                        offset,
                        seq,
                        why: Corruption::Field {
                            name: "seq",
                            value: s,
                        },
                    }
                }));
            }
            Record::Commit { .. } if used == 1 => {
                return Ok(Err(LogEnd::NotARecord {
                    offset,
                    why: Corruption::Field {
                        name: "commit without descriptor",
                        value: seq,
                    },
                }));
            }
            Record::Commit {
                record_blocks,
                txn_checksum,
                ..
            } => {
                let computed = txn_crc.finish();
                if u64::from(record_blocks) != used - 1 || computed != txn_checksum {
                    return Ok(Err(LogEnd::TornTransaction {
                        offset,
                        seq,
                        why: Corruption::Checksum {
                            stored: txn_checksum,
                            computed,
                        },
                    }));
                }
                return Ok(Ok(Replayed {
                    seq,
                    blocks: used,
                    images,
                }));
            }
            Record::Descriptor { tags, .. } => {
                txn_crc.update(&block);
                let count = tags.len() as u64;
                if used + count > limit {
                    return Ok(Err(LogEnd::Full));
                }
                let mut remaining = count;
                let mut tags = tags.into_iter();
                while remaining > 0 {
                    let offset = (at + used) % journal_blocks;
                    let run = remaining.min(journal_blocks - offset);
                    let bytes = read(offset, run)?;
                    for (image, home) in bytes.chunks_exact(BLOCK_SIZE).zip(tags.by_ref()) {
                        txn_crc.update(image);
                        images.push((home, image.to_vec()));
                    }
                    used += run;
                    remaining -= run;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn images(n: usize) -> Vec<(u64, Vec<u8>)> {
        (0..n)
            .map(|i| (100 + i as u64, vec![i as u8; BLOCK_SIZE]))
            .collect()
    }

    fn encode(epoch: u64, seq: u64, imgs: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let refs: Vec<(u64, &[u8])> = imgs.iter().map(|(h, d)| (*h, &d[..])).collect();
        encode_transaction(epoch, seq, &refs)
    }

    fn replay(log: &[u8], jb: u64, epoch: u64, seq: u64) -> Result<Replayed, LogEnd> {
        read_transaction::<()>(
            |o, n| Ok(log[o as usize * BLOCK_SIZE..(o + n) as usize * BLOCK_SIZE].to_vec()),
            jb,
            0,
            jb,
            epoch,
            seq,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_small_and_multi_descriptor() {
        for n in [1usize, 2, 508, 509, 1100] {
            let imgs = images(n);
            let log = encode(4, 9, &imgs);
            assert_eq!(
                log.len() as u64,
                blocks_needed(n as u64) * BLOCK_SIZE as u64
            );
            let jb = (log.len() / BLOCK_SIZE) as u64;
            let r = replay(&log, jb, 4, 9).unwrap();
            assert_eq!(r.seq, 9);
            assert_eq!(r.blocks, jb);
            assert_eq!(r.images, imgs);
        }
    }

    #[test]
    fn torn_sector_anywhere_discards_the_transaction() {
        let imgs = images(3);
        let log = encode(1, 1, &imgs);
        let jb = (log.len() / BLOCK_SIZE) as u64;
        for sector in 0..log.len() / 512 {
            let mut torn = log.clone();
            torn[sector * 512..(sector + 1) * 512].fill(0xEE);
            assert!(replay(&torn, jb, 1, 1).is_err(), "sector {sector}");
        }
    }

    #[test]
    fn wrong_epoch_or_seq_is_stale() {
        let log = encode(1, 5, &images(2));
        let jb = (log.len() / BLOCK_SIZE) as u64;
        assert!(matches!(
            replay(&log, jb, 2, 5),
            Err(LogEnd::Stale {
                epoch: 1,
                seq: 5,
                ..
            })
        ));
        assert!(matches!(replay(&log, jb, 1, 6), Err(LogEnd::Stale { .. })));
    }

    #[test]
    fn wraps_around_the_region_end() {
        let imgs = images(4);
        let log = encode(1, 1, &imgs);
        let n = log.len() / BLOCK_SIZE; // 6 blocks
        let jb = 8u64;
        // Place it starting at offset 5: blocks 5,6,7,0,1,2.
        let mut region = vec![0u8; jb as usize * BLOCK_SIZE];
        for i in 0..n {
            let o = (5 + i) % jb as usize;
            region[o * BLOCK_SIZE..(o + 1) * BLOCK_SIZE]
                .copy_from_slice(&log[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE]);
        }
        let r = read_transaction::<()>(
            |o, n| Ok(region[o as usize * BLOCK_SIZE..(o + n) as usize * BLOCK_SIZE].to_vec()),
            jb,
            5,
            jb,
            1,
            1,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.images, imgs);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4200)) {
            let _ = decode_record(&bytes);
        }

        #[test]
        fn replay_of_garbage_never_panics(seed_blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), BLOCK_SIZE..=BLOCK_SIZE), 1..6), valid_prefix in any::<bool>()) {
            let mut log: Vec<u8> = seed_blocks.concat();
            if valid_prefix {
                // A real descriptor in front of garbage: replay must stop cleanly.
                let real = encode(1, 1, &images(1));
                log[..BLOCK_SIZE].copy_from_slice(&real[..BLOCK_SIZE]);
            }
            let jb = (log.len() / BLOCK_SIZE) as u64;
            prop_assert!(replay(&log, jb, 1, 1).is_err());
        }
    }
}
