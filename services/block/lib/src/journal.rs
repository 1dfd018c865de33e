//! The write-ahead journal: a circular log of transactions made of block
//! images (physical redo records), each closed by a checksummed commit
//! record, written so that any single damaged journal block can be repaired.
//!
//! # Byte layout (format version 2; all integers little-endian)
//! A transaction is, at consecutive journal offsets (wrapping at the end):
//! ```text
//! per group of up to 338 images:  [descriptor][descriptor copy][image]*n[parity]
//! then:                           [commit][commit copy]
//! ```
//! A copy is byte for byte the block before it. Descriptor block:
//! ```text
//! offset size field
//!  0     4    magic           "JDSC" = 0x4353_444A
//!  4     4    checksum        CRC-32C of this block with this field zeroed
//!  8     8    epoch           mount epoch that wrote it (superblock journal_epoch)
//! 16     8    seq             transaction sequence number
//! 24     4    tag_count       n, 1..=338 images follow, one per tag
//! 28     4    parity_crc      CRC-32C of the group's parity block
//! 32  12*338  tags            per image: home block (8), CRC-32C of the image (4)
//! 4088   8    zero
//! ```
//! Image block: the 4096 bytes to write at its tag's home block. Its tag's
//! CRC-32C is computed over them, or for an image written sealed
//! (`write_verified`) read off its seal (`checksum::sealed_image_crc`):
//! the same value either way, so replay checks every image whole.
//! Parity block: the XOR of the group's n images.
//!
//! Commit block:
//! ```text
//! offset size field
//!  0     4    magic           "JCMT" = 0x544D_434A
//!  4     4    checksum        CRC-32C of this block with this field zeroed
//!  8     8    epoch
//! 16     8    seq
//! 24     4    record_blocks   blocks of the transaction before the commit pair
//! 28     4    txn_checksum    CRC-32C of its descriptor blocks (first copies), in order
//! 32     8    durable_through every transaction with a smaller or equal seq
//!                             was durable (flushed) when this one was encoded;
//!                             always < seq (a larger one is not a record)
//! 40  4056    zero
//! ```
//! The superblock names the tail (offset of the oldest live transaction),
//! the sequence number expected there and the epoch. Version 1 (no copies,
//! no parity, no per-image checksums) is refused at mount with
//! `UnsupportedVersion`.
//!
//! # Redundancy rule: one damaged block loses nothing
//! Every block of a transaction is checked on its own (its checksum, or its
//! tag's checksum for an image, or the descriptor's `parity_crc`), so a bad
//! block is always identified. A header (descriptor or commit) is taken from
//! whichever copy is valid; one bad image of a group is rebuilt from the
//! parity and the other images and checked against its tag. So any single
//! damaged block of a transaction is repaired, and the repair is reported
//! (mount's event log; fsck). Two damaged blocks in one transaction (both
//! header copies, or two of one group's images and parity) are beyond repair.
//!
//! # Torn tail or corruption
//! Replay stops at the first transaction it cannot read whole (even after
//! repair). That is the end of the log only if nothing durable follows: the
//! rest of the journal is scanned for a commit of the current epoch with a
//! larger seq whose `durable_through` reaches the stopped transaction. If
//! one exists, the stopped transaction was acknowledged durable and then
//! damaged: mount refuses with `Corruption::JournalGap` (never a silent
//! rollback) and fsck reports it. A later valid transaction with a smaller
//! `durable_through` was written in the same unflushed batch (group commit
//! or a reordered write): a torn tail, not corruption. A repaired block in a
//! transaction that a later commit vouches durable is reported as damage; in
//! the last, unvouched transactions it may be a torn write and is a note.
//!
//! # Invariants
//! - Live transactions occupy `[tail, head)` with consecutive sequence
//!   numbers of the current epoch; a transaction's records are never
//!   overwritten before every block it images is durable at home and BOTH
//!   superblock copies naming a later tail are durable (checkpoint).
//! - A dirty cached block never reaches its home before the commit record
//!   covering it is durable (`BlockStore::write_home`).
//! - A block freed by a live transaction is not reused until the journal has
//!   been checkpointed past it, so replaying an old image never overwrites
//!   newer unjournaled data (no revoke records are needed).
//!
//! # Device assumptions
//! `flush` makes every earlier write durable; unflushed writes may be lost,
//! reordered, or torn at 512-byte sector granularity. Blocks already
//! durable may later be damaged (bit flips): the redundancy above covers one
//! such block per transaction.
//!
//! # Commit protocol and its crash cases
//! A journal transaction `s` is a compound (`store/compound.rs`, jbd2's
//! running transaction): the store's `Batched` commits not yet written,
//! each block once with its latest image, and the `Durable` commit that
//! closes it if one does. `Batched` returns with its images in the cache
//! and its blocks in the compound, nothing written. Writing `s` (a
//! `Durable` commit, `sync`, a checkpoint, the group bound, journal space
//! running short): (a) if a commit in it wrote fresh (unjournaled) blocks,
//! flush, so they are durable before anything points at them (ext4's
//! ordered-data rule); (b) write its records, copies, parity and commit
//! pair in one batch; (c) for `Durable` and `sync`, flush and return (when
//! the records are one run, (b) and (c) are one device request,
//! `write_durable`: a write the device flushes before it answers; the
//! same order). The group bound and a commit that would not fit beside it
//! write it without (c).
//! 1. Cut before (a) completes: no record of `s` exists; its fresh blocks are
//!    free in every durable bitmap, so their contents are invisible.
//! 2. Cut during (b): any subset of `s`'s sectors is on disk, in any order.
//!    If at most one block of `s` is missing or torn, it is repaired and `s`
//!    replayed whole (it was never acknowledged, but every transaction
//!    before it is durable, so the result is still a prefix). Otherwise a
//!    checksum fails and replay stops before `s`. Transactions after `s` in
//!    the same batch are not replayed either (commits become durable in
//!    order), and their `durable_through` is below `s`: a torn tail.
//! 3. Cut after (b) reached the disk, with or without (c): replay finds `s`
//!    whole and applies it.
//! 4. Cut during a checkpoint's home writes: the journal still holds every
//!    live transaction; replay rewrites all their images (idempotent).
//! 5. Cut during the superblock writes that move the tail: the old tail is
//!    replayed again (case 4) or the new one is used; see `superblock.rs`.
//!    A checkpoint writes both superblock copies (flushing after each)
//!    before the space behind the new tail is reused, so neither copy ever
//!    names a tail whose records a later lap overwrote.
//! 6. Cut during recovery: recovery writes only home blocks, then the
//!    superblock; the journal is unchanged, so the next mount replays the
//!    same transactions again.
//! 7. Records left past the head by an earlier lap carry a smaller sequence
//!    number; records written past a torn record before a cut carry the old
//!    epoch once mount bumped it. Both are refused, never replayed.
//! 8. A block of a durable transaction damaged later: repaired (rule above);
//!    two damaged blocks of one transaction followed by a commit that vouches
//!    for it: mount refuses with `JournalGap`, fsck reports it.
//! 9. Cut while batched commits wait in the compound, or while it is written:
//!    cases 1-3 for the compound as one transaction. Before its commit pair
//!    is whole on the disk, none of its commits is replayed (their images
//!    were only in memory, or in records replay refuses), so recovery shows
//!    the commits before it; after, all of them, each block with the
//!    latest image of the commits in it. Never some commits of a compound
//!    and not the others: after any cut the store is as after a prefix of
//!    the commits that ends at a compound boundary. No acknowledgement is
//!    broken: a `Batched` commit promised nothing before a later `Durable`
//!    commit or `sync` returned, which is after its compound was flushed
//!    (`compound_survives_power_cuts`).

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{crc32c, crc32c_extended_by_zeros, crc32c_skipping, Crc32c};
use crate::error::Corruption;
use crate::BLOCK_SIZE;

pub const DESCRIPTOR_MAGIC: u32 = u32::from_le_bytes(*b"JDSC");
pub const COMMIT_MAGIC: u32 = u32::from_le_bytes(*b"JCMT");

/// A descriptor block, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DescriptorBytes {
    magic: U32,
    checksum: U32,
    epoch: U64,
    seq: U64,
    tag_count: U32,
    parity_crc: U32,
    tags: [Tag; TAGS_PER_DESCRIPTOR],
    zero: [u8; 8],
}

/// One image of a descriptor: its home block and its CRC-32C.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Tag {
    home: U64,
    crc: U32,
}

/// A commit block, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct CommitBytes {
    magic: U32,
    checksum: U32,
    epoch: U64,
    seq: U64,
    record_blocks: U32,
    txn_checksum: U32,
    durable_through: U64,
    zero: [u8; 4056],
}

/// Images described by one descriptor block.
pub const TAGS_PER_DESCRIPTOR: usize = 338;
/// Where both kinds of record keep their checksum.
const OFF_CHECKSUM: usize = offset_of!(DescriptorBytes, checksum);
// The diagrams' offsets, checked against the structs.
const _: () = assert!(size_of::<Tag>() == 12);
const _: () = assert!(offset_of!(DescriptorBytes, tags) == 32);
const _: () = assert!(offset_of!(DescriptorBytes, zero) == 4088);
const _: () = assert!(TAGS_PER_DESCRIPTOR == (BLOCK_SIZE - 32) / size_of::<Tag>());
const _: () = assert!(size_of::<DescriptorBytes>() == BLOCK_SIZE);
const _: () = assert!(offset_of!(CommitBytes, checksum) == OFF_CHECKSUM);
const _: () = assert!(offset_of!(CommitBytes, record_blocks) == 24);
const _: () = assert!(offset_of!(CommitBytes, durable_through) == 32);
const _: () = assert!(size_of::<CommitBytes>() == BLOCK_SIZE);
/// The smallest journal the format allows.
pub const MIN_JOURNAL_BLOCKS: u64 = 16;
/// The largest journal the format allows (64 MiB): mount holds the images
/// of every live transaction in memory while it replays them, so this
/// bounds replay's memory (the block service's journal is 1,024 blocks).
pub const MAX_JOURNAL_BLOCKS: u64 = 16 * 1024;

/// Journal blocks a transaction of `images` block images occupies: the
/// images, per group a descriptor pair and a parity block, a commit pair.
pub const fn blocks_needed(images: u64) -> u64 {
    images + 3 * images.div_ceil(TAGS_PER_DESCRIPTOR as u64) + 2
}

/// Sets the checksum field of a record block (at the same offset in both
/// kinds) whose bytes from `head` on are all zero (the encoder's records:
/// tags past the count and the commit's tail are zero), without reading
/// them (`crc32c_extended_by_zeros`; `decode_record` still checks the
/// whole block). Answers the CRC-32C of the sealed block.
fn seal(b: &mut [u8], head: usize) -> u32 {
    debug_assert!(b[head..].iter().all(|&x| x == 0), "a record's tail is zero");
    let zeros = BLOCK_SIZE - head;
    let crc = crc32c_extended_by_zeros(crc32c_skipping(&b[..head], OFF_CHECKSUM), zeros);
    if let Ok(record) = CommitBytes::mut_from_bytes(b) {
        record.checksum = crc.into();
    }
    crc32c_extended_by_zeros(crc32c(&b[..head]), zeros)
}

/// Bytes of a descriptor block up to its last tag (the rest is zero).
fn descriptor_head(tags: usize) -> usize {
    offset_of!(DescriptorBytes, tags) + tags * size_of::<Tag>()
}
/// Bytes of a commit block up to its last field (the rest is zero).
const COMMIT_HEAD: usize = offset_of!(CommitBytes, zero);

/// `acc ^= block` over their common length, 8 bytes at a time: the
/// services are built without SIMD, so a byte loop stays a load and a
/// read-modify-write per byte, and under QEMU's TCG each of those is a
/// soft-MMU access (measured in the guest: 83k cycles per 4 KiB block
/// byte by byte; docs/speed.md). A tail shorter than 8 bytes goes bytewise.
pub(crate) fn xor_into(acc: &mut [u8], block: &[u8]) {
    let n = acc.len().min(block.len());
    let (acc, block) = (&mut acc[..n], &block[..n]);
    let mut words = acc.chunks_exact_mut(8);
    let mut from = block.chunks_exact(8);
    for (a, b) in (&mut words).zip(&mut from) {
        let mut x = [0u8; 8];
        x.copy_from_slice(a);
        let mut y = [0u8; 8];
        y.copy_from_slice(b);
        a.copy_from_slice(&(u64::from_ne_bytes(x) ^ u64::from_ne_bytes(y)).to_ne_bytes());
    }
    for (a, b) in words.into_remainder().iter_mut().zip(from.remainder()) {
        *a ^= b;
    }
}

/// One block image to journal.
pub struct Image<'a> {
    /// The block it is written to.
    pub home: u64,
    /// Its 4096 bytes.
    pub bytes: &'a [u8],
    /// Its CRC-32C when already known (read off the seal of an image
    /// written through `write_verified`: [`crate::sealed_image_crc`]),
    /// else computed here.
    pub crc: Option<u32>,
}

/// Encodes transaction `seq` of `epoch` writing `images` (home block, image)
/// into its journal blocks, in log order. `durable_through` is the highest
/// sequence number known durable now (see the commit block). The store
/// appends to its buffer instead ([`encode_transaction_into`]); tests use this.
#[cfg(test)]
pub fn encode_transaction(
    epoch: u64,
    seq: u64,
    durable_through: u64,
    images: &[(u64, &[u8])],
) -> Vec<u8> {
    let mut out = Vec::new();
    encode_transaction_into(&mut out, epoch, seq, durable_through, &unsealed(images));
    out
}

/// `images` as images of no known CRC (computed when encoded).
#[cfg(test)]
fn unsealed<'a>(images: &[(u64, &'a [u8])]) -> Vec<Image<'a>> {
    images
        .iter()
        .map(|&(home, bytes)| Image {
            home,
            bytes,
            crc: None,
        })
        .collect()
}

/// CRC-32C of a block of zeros: the parity's checksum is derived from the
/// images' (below).
const ZERO_BLOCK_CRC: u32 = crc32c(&[0; BLOCK_SIZE]);

/// [`encode_transaction`], appending the journal blocks to `out` (the
/// store's buffer of records not yet written): every image is copied once,
/// straight into place, and no block is zeroed first but the descriptor's.
///
/// The parity block's CRC-32C is not computed over its bytes: CRC-32C is
/// affine over XOR for messages of one length, so for the XOR `p` of `n`
/// blocks `crc(p) = crc(x1) ^ ... ^ crc(xn)`, and `^ crc(zeros)` once more
/// when `n` is even; the images' CRCs are computed anyway for their tags
/// (`parity_crc_is_derived_from_the_images` checks it against a direct
/// computation). An image's own CRC is its known one when it has one
/// ([`Image::crc`]): the tags hold the same values either way, so the log
/// is byte for byte the same and replay checks every image whole.
pub fn encode_transaction_into(
    out: &mut Vec<u8>,
    epoch: u64,
    seq: u64,
    durable_through: u64,
    images: &[Image<'_>],
) {
    let base = out.len();
    let total = blocks_needed(images.len() as u64) as usize;
    out.reserve(total * BLOCK_SIZE);
    let mut txn_crc = Crc32c::new();
    let single_group = images.len() <= TAGS_PER_DESCRIPTOR;
    let mut txn_checksum = 0;
    for group in images.chunks(TAGS_PER_DESCRIPTOR) {
        let desc_at = out.len();
        out.resize(desc_at + 2 * BLOCK_SIZE, 0);
        let mut desc = DescriptorBytes::new_zeroed();
        desc.magic = DESCRIPTOR_MAGIC.into();
        desc.epoch = epoch.into();
        desc.seq = seq.into();
        desc.tag_count = (group.len() as u32).into();
        let mut parity_crc = 0u32;
        for (image, tag) in group.iter().zip(desc.tags.iter_mut()) {
            let Image { home, bytes, crc } = *image;
            // Every caller passes whole blocks (the store's images).
            assert_eq!(bytes.len(), BLOCK_SIZE, "a journal image is one block");
            let crc = crc.unwrap_or_else(|| crc32c(bytes));
            debug_assert_eq!(crc, crc32c(bytes), "a known CRC is the image's");
            tag.home = home.into();
            tag.crc = crc.into();
            parity_crc ^= crc;
            out.extend_from_slice(bytes);
        }
        if group.len().is_multiple_of(2) {
            parity_crc ^= ZERO_BLOCK_CRC;
        }
        // The parity: the first image, then every other one XORed in.
        let first_at = desc_at + 2 * BLOCK_SIZE;
        let parity_at = out.len();
        out.extend_from_within(first_at..first_at + BLOCK_SIZE);
        for k in 1..group.len() {
            let (head, parity) = out.split_at_mut(parity_at);
            let at = first_at + k * BLOCK_SIZE;
            xor_into(parity, &head[at..at + BLOCK_SIZE]);
        }
        desc.parity_crc = parity_crc.into();
        let block = &mut out[desc_at..desc_at + BLOCK_SIZE];
        block.copy_from_slice(desc.as_bytes());
        let block_crc = seal(block, descriptor_head(group.len()));
        if single_group {
            // The transaction checksum is this one block's CRC.
            txn_checksum = block_crc;
        } else {
            txn_crc.update(block);
        }
        out.copy_within(desc_at..desc_at + BLOCK_SIZE, desc_at + BLOCK_SIZE);
    }
    if !single_group {
        txn_checksum = txn_crc.finish();
    }
    let record_blocks = (out.len() - base) / BLOCK_SIZE;
    let mut commit = CommitBytes::new_zeroed();
    commit.magic = COMMIT_MAGIC.into();
    commit.epoch = epoch.into();
    commit.seq = seq.into();
    // At most the journal's size (MAX_JOURNAL_BLOCKS fits in u32).
    commit.record_blocks = (record_blocks as u32).into();
    commit.txn_checksum = txn_checksum.into();
    commit.durable_through = durable_through.into();
    let at = out.len();
    out.extend_from_slice(commit.as_bytes());
    seal(&mut out[at..at + BLOCK_SIZE], COMMIT_HEAD);
    out.extend_from_within(at..at + BLOCK_SIZE);
}

/// A journal block, decoded and checked on its own.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Descriptor {
        epoch: u64,
        seq: u64,
        /// (home block, CRC-32C of the image) per image.
        tags: Vec<(u64, u32)>,
        parity_crc: u32,
    },
    Commit {
        epoch: u64,
        seq: u64,
        record_blocks: u32,
        txn_checksum: u32,
        durable_through: u64,
    },
}

impl Record {
    pub(crate) fn id(&self) -> (u64, u64) {
        match self {
            Record::Descriptor { epoch, seq, .. } | Record::Commit { epoch, seq, .. } => {
                (*epoch, *seq)
            }
        }
    }
}

/// Decodes one journal block; `Err` says why it is not a valid record.
pub fn decode_record(b: &[u8]) -> Result<Record, Corruption> {
    let length = Corruption::Field {
        name: "length",
        value: b.len() as u64,
    };
    // A block of the right size is either record, read field by field.
    let (Ok(desc), Ok(commit)) = (
        DescriptorBytes::ref_from_bytes(b),
        CommitBytes::ref_from_bytes(b),
    ) else {
        return Err(length);
    };
    let magic = commit.magic.get();
    if magic != DESCRIPTOR_MAGIC && magic != COMMIT_MAGIC {
        return Err(Corruption::Magic {
            expected: COMMIT_MAGIC,
            found: magic,
        });
    }
    let stored = commit.checksum.get();
    let computed = crc32c_skipping(b, OFF_CHECKSUM);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    let (epoch, seq) = (commit.epoch.get(), commit.seq.get());
    if magic == COMMIT_MAGIC {
        let durable_through = commit.durable_through.get();
        // Written as the highest seq durable before this one: a commit
        // vouching for itself or later ones is no record this code wrote.
        if durable_through >= seq {
            return Err(Corruption::Field {
                name: "durable_through",
                value: durable_through,
            });
        }
        return Ok(Record::Commit {
            epoch,
            seq,
            record_blocks: commit.record_blocks.get(),
            txn_checksum: commit.txn_checksum.get(),
            durable_through,
        });
    }
    let count = desc.tag_count.get();
    let Some(tags) = desc.tags.get(..count as usize).filter(|_| count > 0) else {
        return Err(Corruption::Field {
            name: "tag_count",
            value: count.into(),
        });
    };
    Ok(Record::Descriptor {
        epoch,
        seq,
        tags: tags.iter().map(|t| (t.home.get(), t.crc.get())).collect(),
        parity_crc: desc.parity_crc.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_crc_is_derived_from_the_images() {
        // Odd and even group sizes, and a second group.
        for n in [1usize, 2, 3, 4, TAGS_PER_DESCRIPTOR + 3] {
            let images: Vec<(u64, Vec<u8>)> = (0..n)
                .map(|i| {
                    let img = (0..BLOCK_SIZE)
                        .map(|k| ((k * 7 + i * 13) ^ (k >> 5)) as u8)
                        .collect();
                    (100 + i as u64, img)
                })
                .collect();
            let refs: Vec<(u64, &[u8])> = images.iter().map(|(b, d)| (*b, &d[..])).collect();
            let mut out = vec![9u8; 3];
            encode_transaction_into(&mut out, 1, 5, 4, &unsealed(&refs));
            assert_eq!(&out[..3], &[9, 9, 9], "appended, nothing before it touched");
            let log = &out[3..];
            assert_eq!(log, &encode_transaction(1, 5, 4, &refs)[..]);
            assert_eq!(log.len(), blocks_needed(n as u64) as usize * BLOCK_SIZE);
            let mut at = 0;
            for group in refs.chunks(TAGS_PER_DESCRIPTOR) {
                let Ok(Record::Descriptor {
                    tags, parity_crc, ..
                }) = decode_record(&log[at..at + BLOCK_SIZE])
                else {
                    panic!("no descriptor at {at}");
                };
                assert_eq!(
                    &log[at..at + BLOCK_SIZE],
                    &log[at + BLOCK_SIZE..at + 2 * BLOCK_SIZE]
                );
                at += 2 * BLOCK_SIZE;
                let mut parity = vec![0u8; BLOCK_SIZE];
                for ((home, image), tag) in group.iter().zip(&tags) {
                    assert_eq!(&log[at..at + BLOCK_SIZE], *image);
                    assert_eq!(*tag, (*home, crc32c(image)));
                    xor_into(&mut parity, image);
                    at += BLOCK_SIZE;
                }
                assert_eq!(&log[at..at + BLOCK_SIZE], &parity[..]);
                assert_eq!(parity_crc, crc32c(&parity), "{n} images");
                at += BLOCK_SIZE;
            }
            assert!(matches!(
                decode_record(&log[at..at + BLOCK_SIZE]),
                Ok(Record::Commit {
                    seq: 5,
                    durable_through: 4,
                    ..
                })
            ));
        }
    }

    #[test]
    fn known_crcs_encode_the_same_log() {
        let images: Vec<(u64, Vec<u8>)> = (0..5u64)
            .map(|i| {
                (
                    40 + i,
                    (0..BLOCK_SIZE).map(|k| (k as u64 * i) as u8).collect(),
                )
            })
            .collect();
        let refs: Vec<(u64, &[u8])> = images.iter().map(|(b, d)| (*b, &d[..])).collect();
        let known: Vec<Image<'_>> = images
            .iter()
            .enumerate()
            .map(|(i, (home, bytes))| Image {
                home: *home,
                bytes,
                // Some known, some not: a transaction mixes both.
                crc: (i % 2 == 0).then(|| crc32c(bytes)),
            })
            .collect();
        let mut out = Vec::new();
        encode_transaction_into(&mut out, 2, 7, 6, &known);
        assert!(out == encode_transaction(2, 7, 6, &refs));
    }

    #[test]
    fn seals_over_zeros_equal_the_whole_blocks_at_every_tag_count() {
        let image = vec![0xA5u8; BLOCK_SIZE];
        for n in (1..=TAGS_PER_DESCRIPTOR)
            .step_by(7)
            .chain([TAGS_PER_DESCRIPTOR])
        {
            let images: Vec<(u64, &[u8])> = (0..n).map(|i| (1000 + i as u64, &image[..])).collect();
            let log = encode_transaction(3, 9 + n as u64, 8, &images);
            let desc = &log[..BLOCK_SIZE];
            let commit = &log[log.len() - 2 * BLOCK_SIZE..log.len() - BLOCK_SIZE];
            let stored = |b: &[u8]| u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            assert_eq!(stored(desc), crc32c_skipping(desc, OFF_CHECKSUM), "{n}");
            assert_eq!(stored(commit), crc32c_skipping(commit, OFF_CHECKSUM), "{n}");
            let Ok(Record::Commit { txn_checksum, .. }) = decode_record(commit) else {
                panic!("commit of {n} images does not decode");
            };
            assert_eq!(txn_checksum, crc32c(desc), "{n} images");
        }
    }

    #[test]
    fn xor_into_equals_the_byte_loop_at_every_length_and_offset() {
        let a: Vec<u8> = (0..4133u32).map(|i| (i * 31 + 7) as u8).collect();
        let b: Vec<u8> = (0..4133u32).map(|i| (i * 17 + 3) as u8).collect();
        for (len, off) in [
            (0, 0),
            (1, 0),
            (7, 1),
            (8, 0),
            (9, 3),
            (4096, 0),
            (4096, 5),
            (4127, 6),
        ] {
            let mut fast = a[off..off + len].to_vec();
            xor_into(&mut fast, &b[..len + 2]);
            let slow: Vec<u8> = a[off..off + len]
                .iter()
                .zip(&b)
                .map(|(x, y)| x ^ y)
                .collect();
            assert_eq!(fast, slow, "len {len} offset {off}");
        }
    }
}
