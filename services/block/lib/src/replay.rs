//! Reading the journal back (its format and rules are in `journal.rs`):
//! reads one transaction, repairing a bad block from its copy or the
//! parity; and, at mount and in fsck, replays the live log from the tail
//! until a transaction cannot be read whole, records the blocks it
//! repaired, and tells a torn tail from a durable transaction lost in the
//! middle of the log ("Torn tail or corruption" in `journal.rs`).
//!
//! Replay streams: a transaction's images are handed on one group (at
//! most `MAX_TAGS` images, 1.4 MiB) at a time and never gathered, so the
//! memory replay needs does not grow with the journal, and a journal
//! written by a bigger configuration (up to `MAX_JOURNAL_BLOCKS`, 64 MiB)
//! mounts in a service that holds much less. Mount reads the log twice:
//! once to check it whole (torn tail, gaps, homes it may write), then to
//! write each group home in log order (a later image wins).

use alloc::vec::Vec;

use crate::checksum::{crc32c, Crc32c};
use crate::error::Corruption;
use crate::journal::{decode_record, xor_into, Record};
use crate::BLOCK_SIZE;

mod scan;

pub use scan::{replay_images, scan_log, LogScan, Repair};

/// Why replay stopped where it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// Neither copy of the header at the head is a record (or both fail
    /// their checksums).
    NotARecord { offset: u64, why: Corruption },
    /// A valid record of another epoch or sequence number: stale.
    Stale { offset: u64, epoch: u64, seq: u64 },
    /// A transaction with blocks beyond repair (two bad blocks where one
    /// can be rebuilt) or whose blocks do not match its commit record.
    TornTransaction {
        offset: u64,
        seq: u64,
        why: Corruption,
    },
    /// The log filled the whole journal.
    Full,
}

/// One transaction read back from the log (its images went to the
/// caller's `on_group`, a group at a time).
pub struct Replayed {
    pub seq: u64,
    /// Journal blocks it occupies.
    pub blocks: u64,
    /// The home blocks of its images, in log order (8 bytes each).
    pub homes: Vec<u64>,
    /// Its commit's `durable_through`.
    pub durable_through: u64,
    /// Journal offsets of its blocks that were bad and were repaired from
    /// their copy or the parity (or, for a copy or parity, not needed).
    pub damaged: Vec<u64>,
}

/// Reads `count` journal blocks from `offset`, in at most two requests
/// where the run wraps at the region's end.
fn read_wrapping<E>(
    read: &mut impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    journal_blocks: u64,
    offset: u64,
    count: u64,
) -> Result<Vec<u8>, E> {
    let offset = offset % journal_blocks;
    let first = count.min(journal_blocks - offset);
    let mut out = read(offset, first)?;
    if first < count {
        out.extend(read(0, count - first)?);
    }
    Ok(out)
}

/// A header read from its two copies.
enum Header {
    /// The record, and the offset of a bad copy if one was bad.
    Found(Record, Vec<u8>, Option<u64>),
    /// Neither copy is a valid record of this epoch and seq; the decode of
    /// the first copy says why.
    Missing(Result<Record, Corruption>),
}

fn read_header<E>(
    read: &mut impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    journal_blocks: u64,
    offset: u64,
    epoch: u64,
    seq: u64,
) -> Result<Header, E> {
    let pair = read_wrapping(read, journal_blocks, offset, 2)?;
    let (a, b) = pair.split_at(BLOCK_SIZE);
    let valid = |r: Result<Record, Corruption>| r.ok().filter(|r| r.id() == (epoch, seq));
    let second = (offset + 1) % journal_blocks;
    Ok(match (valid(decode_record(a)), valid(decode_record(b))) {
        (Some(r), Some(_)) if a == b => Header::Found(r, a.to_vec(), None),
        (Some(r), _) => Header::Found(r, a.to_vec(), Some(second)),
        (None, Some(r)) => Header::Found(r, b.to_vec(), Some(offset % journal_blocks)),
        (None, None) => Header::Missing(decode_record(a)),
    })
}

/// Reads the transaction at journal offset `at`, expecting `epoch`/`seq`,
/// repairing one bad block per header pair and per image group (see the
/// redundancy rule). `read(offset, count)` fetches `count` journal blocks
/// from `offset` (never past the region's end: runs are split where the
/// log wraps). Never reads more than `limit` blocks. `Ok(Err(end))` when
/// the log ends here. Each group of checked (or repaired) (home, image)
/// pairs goes to `on_group` as it is read, before the commit record is:
/// a caller that must act only on whole transactions reads it twice.
pub fn read_transaction<E>(
    mut read: impl FnMut(u64, u64) -> Result<Vec<u8>, E>,
    journal_blocks: u64,
    at: u64,
    limit: u64,
    (epoch, seq): (u64, u64),
    mut on_group: impl FnMut(&[(u64, Vec<u8>)]) -> Result<(), E>,
) -> Result<Result<Replayed, LogEnd>, E> {
    let jb = journal_blocks;
    let mut homes: Vec<u64> = Vec::new();
    let mut damaged = Vec::new();
    let mut used = 0u64;
    let mut txn_crc = Crc32c::new();
    loop {
        if used + 2 > limit {
            return Ok(Err(LogEnd::Full));
        }
        let offset = (at + used) % jb;
        let (record, block) = match read_header(&mut read, jb, offset, epoch, seq)? {
            Header::Found(record, block, bad) => {
                damaged.extend(bad);
                (record, block)
            }
            Header::Missing(first) if used > 0 => {
                let why = match first {
                    Err(why) => why,
                    Ok(r) => Corruption::Field {
                        name: "seq",
                        value: r.id().1,
                    },
                };
                return Ok(Err(LogEnd::TornTransaction { offset, seq, why }));
            }
            Header::Missing(Ok(r)) => {
                let (epoch, seq) = r.id();
                return Ok(Err(LogEnd::Stale { offset, epoch, seq }));
            }
            Header::Missing(Err(why)) => return Ok(Err(LogEnd::NotARecord { offset, why })),
        };
        used += 2;
        match record {
            Record::Commit { .. } if used == 2 => {
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
                durable_through,
                ..
            } => {
                let computed = txn_crc.finish();
                if u64::from(record_blocks) != used - 2 || computed != txn_checksum {
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
                    homes,
                    durable_through,
                    damaged,
                }));
            }
            Record::Descriptor {
                tags, parity_crc, ..
            } => {
                txn_crc.update(&block);
                let count = tags.len() as u64;
                if used + count + 1 > limit {
                    return Ok(Err(LogEnd::Full));
                }
                let bytes = read_wrapping(&mut read, jb, at + used, count + 1)?;
                let (group, parity) = bytes.split_at(count as usize * BLOCK_SIZE);
                let mut group: Vec<Vec<u8>> =
                    group.chunks_exact(BLOCK_SIZE).map(<[u8]>::to_vec).collect();
                let bad: Vec<usize> = (0..group.len())
                    .filter(|&i| crc32c(&group[i]) != tags[i].1)
                    .collect();
                let parity_ok = crc32c(parity) == parity_crc;
                let parity_offset = (at + used + count) % jb;
                match (bad.as_slice(), parity_ok) {
                    ([], true) => {}
                    ([], false) => damaged.push(parity_offset),
                    (&[i], true) => {
                        let mut rebuilt = parity.to_vec();
                        for (k, image) in group.iter().enumerate() {
                            if k != i {
                                xor_into(&mut rebuilt, image);
                            }
                        }
                        let computed = crc32c(&rebuilt);
                        if computed != tags[i].1 {
                            return Ok(Err(LogEnd::TornTransaction {
                                offset: (at + used + i as u64) % jb,
                                seq,
                                why: Corruption::Checksum {
                                    stored: tags[i].1,
                                    computed,
                                },
                            }));
                        }
                        group[i] = rebuilt;
                        damaged.push((at + used + i as u64) % jb);
                    }
                    (bad, _) => {
                        let i = bad.first().copied().unwrap_or(group.len());
                        return Ok(Err(LogEnd::TornTransaction {
                            offset: (at + used + i as u64) % jb,
                            seq,
                            why: Corruption::Field {
                                name: "images beyond repair in one group",
                                value: bad.len() as u64 + u64::from(!parity_ok),
                            },
                        }));
                    }
                }
                let group: Vec<(u64, Vec<u8>)> = tags.iter().map(|t| t.0).zip(group).collect();
                on_group(&group)?;
                homes.extend(tags.iter().map(|t| t.0));
                used += count + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{blocks_needed, encode_transaction};
    use alloc::vec;
    use proptest::prelude::*;

    fn images(n: usize) -> Vec<(u64, Vec<u8>)> {
        (0..n)
            .map(|i| (100 + i as u64, vec![i as u8; BLOCK_SIZE]))
            .collect()
    }

    fn encode(epoch: u64, seq: u64, imgs: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let refs: Vec<(u64, &[u8])> = imgs.iter().map(|(h, d)| (*h, &d[..])).collect();
        encode_transaction(epoch, seq, seq - 1, &refs)
    }

    /// A replayed transaction and the images its groups handed on.
    struct Read {
        t: Replayed,
        images: Vec<(u64, Vec<u8>)>,
    }

    impl core::ops::Deref for Read {
        type Target = Replayed;
        fn deref(&self) -> &Replayed {
            &self.t
        }
    }

    fn replay(log: &[u8], jb: u64, epoch: u64, seq: u64) -> Result<Read, LogEnd> {
        let mut images = Vec::new();
        read_transaction::<()>(
            |o, n| Ok(log[o as usize * BLOCK_SIZE..(o + n) as usize * BLOCK_SIZE].to_vec()),
            jb,
            0,
            jb,
            (epoch, seq),
            |g| {
                images.extend_from_slice(g);
                Ok(())
            },
        )
        .unwrap()
        .map(|t| Read { t, images })
    }

    #[test]
    fn round_trip_small_and_multi_descriptor() {
        for n in [1usize, 2, 338, 339, 1100] {
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
    fn any_one_bad_block_is_repaired_and_named() {
        for n in [1usize, 3, 340] {
            let imgs = images(n);
            let log = encode(1, 1, &imgs);
            let jb = (log.len() / BLOCK_SIZE) as u64;
            for block in 0..jb as usize {
                for sector in [0usize, 7] {
                    let mut torn = log.clone();
                    let at = block * BLOCK_SIZE + sector * 512;
                    torn[at..at + 512].iter_mut().for_each(|b| *b ^= 0x5A);
                    let r = replay(&torn, jb, 1, 1)
                        .unwrap_or_else(|e| panic!("{n} images, block {block}: {e:?}"));
                    assert_eq!(r.images, imgs, "{n} images, block {block}");
                    assert_eq!(r.damaged, [block as u64], "{n} images, block {block}");
                }
            }
        }
    }

    #[test]
    fn two_bad_blocks_of_one_pair_or_group_discard_the_transaction() {
        let imgs = images(3);
        let log = encode(1, 1, &imgs);
        let jb = (log.len() / BLOCK_SIZE) as u64; // D D' I I I P C C'
        for pair in [[0usize, 1], [2, 3], [4, 5], [6, 7]] {
            let mut torn = log.clone();
            for b in pair {
                torn[b * BLOCK_SIZE + 100] ^= 1;
            }
            assert!(replay(&torn, jb, 1, 1).is_err(), "blocks {pair:?}");
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
    fn encoded_records_follow_the_diagrams() {
        let imgs = images(2);
        let log = encode(3, 9, &imgs); // D D' I I P C C'
        let u64_at = |at: usize| u64::from_le_bytes(log[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(log[at..at + 4].try_into().unwrap());
        assert_eq!(&log[..4], b"JDSC");
        assert_eq!((u64_at(8), u64_at(16), u32_at(24)), (3, 9, 2));
        assert_eq!(u32_at(28), crc32c(&log[4 * BLOCK_SIZE..5 * BLOCK_SIZE]));
        assert_eq!((u64_at(32), u32_at(40)), (100, crc32c(&imgs[0].1)));
        assert_eq!((u64_at(44), u32_at(52)), (101, crc32c(&imgs[1].1)));
        let c = 5 * BLOCK_SIZE;
        assert_eq!(&log[c..c + 4], b"JCMT");
        assert_eq!((u64_at(c + 8), u64_at(c + 16), u32_at(c + 24)), (3, 9, 5));
        assert_eq!(u32_at(c + 28), crc32c(&log[..BLOCK_SIZE]));
        assert_eq!(u64_at(c + 32), 8);
        assert!(log[c + 40..c + BLOCK_SIZE].iter().all(|&x| x == 0));
    }

    #[test]
    fn commit_vouching_for_itself_is_not_a_record() {
        // A valid checksum, but `durable_through` is not below its own seq:
        // it would vouch for transactions that were never written.
        let refs: Vec<(u64, &[u8])> = vec![(100, &[1u8; BLOCK_SIZE][..])];
        let log = encode_transaction(1, 5, 5, &refs);
        let commit = &log[log.len() - BLOCK_SIZE..];
        assert_eq!(
            decode_record(commit),
            Err(Corruption::Field {
                name: "durable_through",
                value: 5
            })
        );
        let jb = (log.len() / BLOCK_SIZE) as u64;
        assert!(matches!(
            replay(&log, jb, 1, 5),
            Err(LogEnd::TornTransaction { seq: 5, .. })
        ));
        let good = encode_transaction(1, 5, 4, &refs);
        assert!(decode_record(&good[good.len() - BLOCK_SIZE..]).is_ok());
    }

    #[test]
    fn wraps_around_the_region_end() {
        let imgs = images(4);
        let log = encode(1, 1, &imgs);
        let n = log.len() / BLOCK_SIZE; // 9 blocks
        let jb = 12u64;
        // Place it starting at offset 5: blocks 5..12, 0, 1.
        let mut region = vec![0u8; jb as usize * BLOCK_SIZE];
        for i in 0..n {
            let o = (5 + i) % jb as usize;
            region[o * BLOCK_SIZE..(o + 1) * BLOCK_SIZE]
                .copy_from_slice(&log[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE]);
        }
        let mut got = Vec::new();
        let r = read_transaction::<()>(
            |o, n| Ok(region[o as usize * BLOCK_SIZE..(o + n) as usize * BLOCK_SIZE].to_vec()),
            jb,
            5,
            jb,
            (1, 1),
            |g| {
                got.extend_from_slice(g);
                Ok(())
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(got, imgs);
        assert_eq!(r.homes, imgs.iter().map(|i| i.0).collect::<Vec<_>>());
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
