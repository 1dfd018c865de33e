//! The superblock: geometry and journal position, kept in two copies.
//!
//! # Byte layout (all integers little-endian)
//! Copies live in block 0 and block 1. Only the first 512-byte sector of
//! each block is used (the rest is zero), so one copy is written atomically
//! on a device with 512-byte sector atomicity; the checksum catches the rest.
//! ```text
//! offset size field
//!  0     8    magic            "BLKSTOR\0" = 0x0052_4F54_534B_4C42
//!  8     4    version          FORMAT_VERSION (2; 1 had no journal redundancy)
//! 12     4    block_size       4096
//! 16     8    block_count      blocks in the store
//! 24     8    generation       +1 on every superblock write
//! 32     8    bitmap_start     first block of the free-space bitmap
//! 40     8    bitmap_blocks
//! 48     8    journal_start    first block of the circular journal
//! 56     8    journal_blocks
//! 64     8    root_start       first of ROOT_SLOTS upper-layer root blocks
//! 72     8    root_slots
//! 80     8    data_start       first block handed out by the allocator
//! 88     8    journal_epoch    +1 at every mount; records of other epochs are stale
//! 96     8    journal_tail     offset in the journal of the oldest live record
//! 104    8    journal_tail_seq sequence number expected at journal_tail
//! 112    8    features         bit 0: data checksum table; other bits zero
//! 120    8    checksum_start   first block of the data checksum table
//! 128    8    checksum_blocks  0 unless bit 0 of features is set
//! 136  372    zero
//! 508    4    checksum         CRC-32C of bytes 0..512 with this field zeroed
//! ```
//! Layout on the device: `[sb 0][sb 1][bitmap..][checksum table..][journal..][roots..][data..]`.
//!
//! # Invariants
//! - Copy `g % 2` holds generation `g`; the copy with the highest generation
//!   and a valid checksum is current. A superblock is written only after a
//!   flush made everything it points to durable, and it is flushed before
//!   anything that depends on it is written.
//! - The regions are in the order above, do not overlap, and end at
//!   `block_count`; `journal_tail < journal_blocks <= MAX_JOURNAL_BLOCKS`
//!   (`journal.rs`: replay's memory bound).
//! - `1 <= journal_tail_seq`, and `generation`, `journal_epoch` and
//!   `journal_tail_seq` are at most `MAX_COUNTER`, so counting them up never
//!   wraps. A copy breaking any of these is refused (with the field and its
//!   value) even when its checksum is right: a bug or a crafted disk, never
//!   arithmetic.
//!
//! # Two copies, one journal
//! Every superblock update (checkpoint, mount) writes BOTH copies, as two
//! generations with the same contents: copy `g+1`, flush, copy `g+2`,
//! flush ([`write_pair`]). Only then does anything reuse journal space or
//! write records of a new epoch. So once an update returns, both copies
//! name the same journal tail, sequence number and epoch, and a single
//! damaged copy (at rest: a bit flip, a bad sector) loses nothing: mount
//! uses the other one, says so, and rewrites both. Before this rule a
//! checkpoint wrote one copy, the older copy kept naming a tail whose space
//! the next lap of the journal overwrote, and a damaged newest copy rolled
//! acknowledged transactions back (issue #9, `rollback-fsck-only`).
//!
//! # Crash cases of a superblock update (generations g, g-1 -> g+1, g+2)
//! 1. Cut before copy g+1 reaches the disk: copy g is current; the journal
//!    tail it names is still valid because no journal space is reused and
//!    no record of a new epoch is written before the update returns.
//! 2. Copy g+1 torn: it fails its checksum; copy g is current (case 1).
//! 3. Copy g+1 whole, cut before or during copy g+2: g+1 is current (a torn
//!    g+2 fails its checksum). The older copy g still names the old tail,
//!    whose space is not yet reused: were g+1 damaged later too (a second
//!    fault), mount from g replays already checkpointed transactions again,
//!    which is idempotent (`journal.rs`, case 4), and loses nothing.
//! 4. Both written: g+2 is current, g+1 names the same journal.
//! 5. One copy damaged later: the other names the same journal (rule above);
//!    mount logs "superblock copy in block N is damaged" and writes both
//!    copies again, so the damage is repaired at once.
//!
//! A store written before this rule may have copies naming different
//! tails; its first mount writes both, and fsck reports a copy that
//! names another journal than the current one.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::crc32c_skipping;
use crate::device::{BlockDevice, DeviceError};
use crate::error::{Corruption, Error};
use crate::{BLOCK_SIZE, ROOT_SLOTS};

pub const MAGIC: u64 = u64::from_le_bytes(*b"BLKSTOR\0");
/// 2: journal records with copies and parity (`journal.rs`). Version 1
/// disks are refused with `UnsupportedVersion` (no converter: reformat).
pub const FORMAT_VERSION: u32 = 2;
/// Bytes of a superblock that carry meaning (one sector).
pub const SUPERBLOCK_BYTES: usize = 512;

/// The layout above, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SuperblockBytes {
    magic: U64,
    version: U32,
    block_size: U32,
    block_count: U64,
    generation: U64,
    bitmap_start: U64,
    bitmap_blocks: U64,
    journal_start: U64,
    journal_blocks: U64,
    root_start: U64,
    root_slots: U64,
    data_start: U64,
    journal_epoch: U64,
    journal_tail: U64,
    journal_tail_seq: U64,
    features: U64,
    checksum_start: U64,
    checksum_blocks: U64,
    zero: [u8; 372],
    checksum: U32,
}
const OFF_CHECKSUM: usize = offset_of!(SuperblockBytes, checksum);
// The diagram's offsets, checked against the struct.
const _: () = assert!(offset_of!(SuperblockBytes, version) == 8);
const _: () = assert!(offset_of!(SuperblockBytes, block_count) == 16);
const _: () = assert!(offset_of!(SuperblockBytes, journal_blocks) == 56);
const _: () = assert!(offset_of!(SuperblockBytes, journal_tail_seq) == 104);
const _: () = assert!(offset_of!(SuperblockBytes, checksum_blocks) == 128);
const _: () = assert!(offset_of!(SuperblockBytes, zero) == 136);
const _: () = assert!(OFF_CHECKSUM == 508);
const _: () = assert!(size_of::<SuperblockBytes>() == SUPERBLOCK_BYTES);
/// `features` bit: blocks outside the block layer's region have checksums.
pub const FEATURE_DATA_CHECKSUMS: u64 = 1;
const _: () = assert!(SUPERBLOCK_BYTES <= BLOCK_SIZE);

/// The largest `generation`, `journal_epoch` and `journal_tail_seq` a
/// superblock may hold: room to count up by one per commit, mount and
/// superblock write for longer than any device lives (2^62 commits at a
/// billion a second take 146 years), so that counting never wraps.
pub const MAX_COUNTER: u64 = 1 << 62;

/// The two superblock copies live in these blocks.
pub const SUPERBLOCK_BLOCKS: [u64; 2] = [0, 1];

/// A decoded, checked superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub block_count: u64,
    pub generation: u64,
    pub bitmap_start: u64,
    pub bitmap_blocks: u64,
    pub journal_start: u64,
    pub journal_blocks: u64,
    pub root_start: u64,
    pub root_slots: u64,
    pub data_start: u64,
    pub journal_epoch: u64,
    pub journal_tail: u64,
    pub journal_tail_seq: u64,
    pub features: u64,
    pub checksum_start: u64,
    pub checksum_blocks: u64,
}

impl Superblock {
    pub fn data_checksums(&self) -> bool {
        self.features & FEATURE_DATA_CHECKSUMS != 0
    }

    /// The block this generation is written to.
    pub fn home(&self) -> u64 {
        SUPERBLOCK_BLOCKS[(self.generation % 2) as usize]
    }

    /// Encodes into a whole block (the unused part zero).
    pub fn encode(&self) -> [u8; BLOCK_SIZE] {
        let mut sb = SuperblockBytes {
            magic: MAGIC.into(),
            version: FORMAT_VERSION.into(),
            block_size: (BLOCK_SIZE as u32).into(),
            block_count: self.block_count.into(),
            generation: self.generation.into(),
            bitmap_start: self.bitmap_start.into(),
            bitmap_blocks: self.bitmap_blocks.into(),
            journal_start: self.journal_start.into(),
            journal_blocks: self.journal_blocks.into(),
            root_start: self.root_start.into(),
            root_slots: self.root_slots.into(),
            data_start: self.data_start.into(),
            journal_epoch: self.journal_epoch.into(),
            journal_tail: self.journal_tail.into(),
            journal_tail_seq: self.journal_tail_seq.into(),
            features: self.features.into(),
            checksum_start: self.checksum_start.into(),
            checksum_blocks: self.checksum_blocks.into(),
            zero: [0; 372],
            checksum: 0.into(),
        };
        sb.checksum = crc32c_skipping(sb.as_bytes(), OFF_CHECKSUM).into();
        let mut b = [0u8; BLOCK_SIZE];
        b[..SUPERBLOCK_BYTES].copy_from_slice(sb.as_bytes());
        b
    }

    /// Decodes and checks the copy read from `block`. Returns
    /// `Error::NotFormatted` for an all-zero sector.
    pub fn decode(block: u64, bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |detail| Error::Corrupt { block, detail };
        let Some(b) = bytes.get(..SUPERBLOCK_BYTES) else {
            return Err(corrupt(Corruption::Field {
                name: "length",
                value: bytes.len() as u64,
            }));
        };
        if b.iter().all(|&x| x == 0) {
            return Err(Error::NotFormatted);
        }
        let Ok(raw) = SuperblockBytes::ref_from_bytes(b) else {
            // Unreachable: `b` is exactly the struct's size, unaligned.
            return Err(corrupt(Corruption::Field {
                name: "length",
                value: b.len() as u64,
            }));
        };
        let magic = raw.magic.get();
        if magic != MAGIC {
            return Err(corrupt(Corruption::Magic {
                expected: MAGIC as u32,
                found: magic as u32,
            }));
        }
        let stored = raw.checksum.get();
        let computed = crc32c_skipping(b, OFF_CHECKSUM);
        if stored != computed {
            return Err(corrupt(Corruption::Checksum { stored, computed }));
        }
        let version = raw.version.get();
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let block_size = raw.block_size.get();
        if block_size as usize != BLOCK_SIZE {
            return Err(corrupt(Corruption::Field {
                name: "block_size",
                value: block_size.into(),
            }));
        }
        let sb = Superblock {
            block_count: raw.block_count.get(),
            generation: raw.generation.get(),
            bitmap_start: raw.bitmap_start.get(),
            bitmap_blocks: raw.bitmap_blocks.get(),
            journal_start: raw.journal_start.get(),
            journal_blocks: raw.journal_blocks.get(),
            root_start: raw.root_start.get(),
            root_slots: raw.root_slots.get(),
            data_start: raw.data_start.get(),
            journal_epoch: raw.journal_epoch.get(),
            journal_tail: raw.journal_tail.get(),
            journal_tail_seq: raw.journal_tail_seq.get(),
            features: raw.features.get(),
            checksum_start: raw.checksum_start.get(),
            checksum_blocks: raw.checksum_blocks.get(),
        };
        sb.check_geometry().map_err(corrupt)?;
        Ok(sb)
    }

    /// The region invariants and the bounds of the counters, checked
    /// before any arithmetic relies on them.
    pub fn check_geometry(&self) -> Result<(), Corruption> {
        let field = |name, value| Err(Corruption::Field { name, value });
        if self.bitmap_start != SUPERBLOCK_BLOCKS.len() as u64 {
            return field("bitmap_start", self.bitmap_start);
        }
        let needed_bitmap = crate::bitmap::bitmap_blocks_for(self.block_count);
        if self.bitmap_blocks != needed_bitmap {
            return field("bitmap_blocks", self.bitmap_blocks);
        }
        if self.features & !FEATURE_DATA_CHECKSUMS != 0 {
            return field("features", self.features);
        }
        if Some(self.checksum_start) != self.bitmap_start.checked_add(self.bitmap_blocks) {
            return field("checksum_start", self.checksum_start);
        }
        let needed_table = if self.data_checksums() {
            crate::checksums::checksum_blocks_for(self.block_count)
        } else {
            0
        };
        if self.checksum_blocks != needed_table {
            return field("checksum_blocks", self.checksum_blocks);
        }
        if Some(self.journal_start) != self.checksum_start.checked_add(self.checksum_blocks) {
            return field("journal_start", self.journal_start);
        }
        if self.journal_blocks < crate::journal::MIN_JOURNAL_BLOCKS {
            return field("journal_blocks", self.journal_blocks);
        }
        if Some(self.root_start) != self.journal_start.checked_add(self.journal_blocks) {
            return field("root_start", self.root_start);
        }
        if self.root_slots != ROOT_SLOTS as u64 {
            return field("root_slots", self.root_slots);
        }
        if Some(self.data_start) != self.root_start.checked_add(self.root_slots) {
            return field("data_start", self.data_start);
        }
        if self.data_start >= self.block_count {
            return field("block_count", self.block_count);
        }
        if self.journal_tail >= self.journal_blocks {
            return field("journal_tail", self.journal_tail);
        }
        // Replay holds the images of the whole live journal in memory.
        if self.journal_blocks > crate::journal::MAX_JOURNAL_BLOCKS {
            return field("journal_blocks", self.journal_blocks);
        }
        // Mount computes `journal_tail_seq - 1` (the last durable commit)
        // and counts the three counters up: zero, or a value too close to
        // the end of u64, would wrap.
        if self.journal_tail_seq == 0 || self.journal_tail_seq > MAX_COUNTER {
            return field("journal_tail_seq", self.journal_tail_seq);
        }
        if self.journal_epoch > MAX_COUNTER {
            return field("journal_epoch", self.journal_epoch);
        }
        if self.generation > MAX_COUNTER {
            return field("generation", self.generation);
        }
        Ok(())
    }
}

/// Writes `sb` as generation `sb.generation` into its home copy, flushes,
/// then as the next generation into the other copy, and flushes again
/// ("Two copies, one journal"). Returns the second, now current, one.
pub fn write_pair(dev: &mut impl BlockDevice, sb: Superblock) -> Result<Superblock, DeviceError> {
    dev.write(sb.home(), &sb.encode())?;
    dev.flush()?;
    let second = Superblock {
        generation: sb.generation + 1,
        ..sb
    };
    dev.write(second.home(), &second.encode())?;
    dev.flush()?;
    Ok(second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn sample() -> Superblock {
        let block_count = 1000;
        let bitmap_blocks = crate::bitmap::bitmap_blocks_for(block_count);
        Superblock {
            block_count,
            generation: 7,
            bitmap_start: 2,
            bitmap_blocks,
            journal_start: 2 + bitmap_blocks + 1,
            journal_blocks: 64,
            root_start: 2 + bitmap_blocks + 1 + 64,
            root_slots: ROOT_SLOTS as u64,
            data_start: 2 + bitmap_blocks + 1 + 64 + ROOT_SLOTS as u64,
            journal_epoch: 3,
            journal_tail: 10,
            journal_tail_seq: 99,
            features: FEATURE_DATA_CHECKSUMS,
            checksum_start: 2 + bitmap_blocks,
            checksum_blocks: 1,
        }
    }

    #[test]
    fn round_trip() {
        let sb = sample();
        assert_eq!(Superblock::decode(1, &sb.encode()), Ok(sb));
        assert_eq!(sb.home(), 1);
    }

    #[test]
    fn encoded_bytes_follow_the_diagram() {
        let b = sample().encode();
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(&b[..8], b"BLKSTOR\0");
        assert_eq!((u32_at(8), u32_at(12)), (FORMAT_VERSION, 4096));
        assert_eq!((u64_at(16), u64_at(24)), (1000, 7));
        assert_eq!((u64_at(56), u64_at(96), u64_at(104)), (64, 10, 99));
        assert_eq!((u64_at(112), u64_at(128)), (FEATURE_DATA_CHECKSUMS, 1));
        assert!(b[136..508].iter().chain(&b[512..]).all(|&x| x == 0));
        assert_eq!(u32_at(508), crc32c_skipping(&b[..512], 508));
    }

    #[test]
    fn every_bit_flip_in_the_used_sector_is_caught() {
        let good = sample().encode();
        for bit in 0..SUPERBLOCK_BYTES * 8 {
            let mut b = good;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Superblock::decode(0, &b).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn blank_is_not_formatted_and_version_is_checked() {
        assert_eq!(
            Superblock::decode(0, &[0u8; BLOCK_SIZE]),
            Err(Error::NotFormatted)
        );
        let mut b = sample().encode();
        let at = offset_of!(SuperblockBytes, version);
        b[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
        let crc = crc32c_skipping(&b[..SUPERBLOCK_BYTES], OFF_CHECKSUM);
        b[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            Superblock::decode(0, &b),
            Err(Error::UnsupportedVersion {
                found: 9,
                supported: FORMAT_VERSION
            })
        );
    }

    #[test]
    fn bad_geometry_with_good_checksum_is_refused() {
        let mut sb = sample();
        sb.journal_tail = sb.journal_blocks;
        assert!(matches!(
            Superblock::decode(0, &sb.encode()),
            Err(Error::Corrupt {
                block: 0,
                detail: Corruption::Field {
                    name: "journal_tail",
                    ..
                }
            })
        ));
        let mut sb = sample();
        sb.data_start = u64::MAX;
        assert!(Superblock::decode(0, &sb.encode()).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Superblock::decode(0, &bytes);
        }

        #[test]
        fn decode_of_valid_header_with_random_fields(fields in proptest::array::uniform15(any::<u64>())) {
            let sb = Superblock {
                block_count: fields[0], generation: fields[1], bitmap_start: fields[2],
                bitmap_blocks: fields[3], journal_start: fields[4], journal_blocks: fields[5],
                root_start: fields[6], root_slots: fields[7], data_start: fields[8],
                journal_epoch: fields[9], journal_tail: fields[10], journal_tail_seq: fields[11],
                features: fields[12], checksum_start: fields[13], checksum_blocks: fields[14],
            };
            // Checksum is right, so only the geometry checks stand between
            // these values and the arithmetic: they must refuse, not panic.
            if let Ok(back) = Superblock::decode(0, &sb.encode()) {
                prop_assert_eq!(back, sb);
            }
        }
    }
}
