//! The data checksum table (optional, chosen at format): one CRC-32C per
//! block, so a damaged data block is reported instead of returned.
//!
//! # Byte layout of a table block (all integers little-endian)
//! ```text
//! offset size  field
//!  0     4     magic     "CSUM" = 0x4D55_5343
//!  4     4     checksum  CRC-32C of the whole block with this field zeroed
//!  8     8     index     position of this block in the table (0..checksum_blocks)
//! 16     4080  entries   1020 u32: entry k is the checksum of block index*1020 + k
//! ```
//! Table block `i` lives at `checksum_start + i` (right after the bitmap).
//!
//! # Invariants
//! - Entry 0 means "no checksum known" (after format and after `allocate`,
//!   before the block's first write); a real CRC of 0 is stored as 1.
//! - A table block changes only through the journal, in the transaction
//!   that writes the blocks it describes. Journaled images and their entries
//!   commit together; `write_fresh` data is durable before the commit
//!   record, so after any crash an allocated block and its entry agree.
//! - Entries of the block layer's own region and of free blocks are not
//!   checked (the former carry their own checksums).

use zerocopy::little_endian::U32;
use zerocopy::FromBytes;

use crate::checksum::Crc32c;
use crate::error::Error;
use crate::table_block::{self, OFF_PAYLOAD};
use crate::BLOCK_SIZE;

pub const MAGIC: u32 = u32::from_le_bytes(*b"CSUM");
/// The header is `table_block`'s.
const OFF_ENTRIES: usize = OFF_PAYLOAD;
/// Blocks described by one table block.
pub const ENTRIES_PER_BLOCK: u64 = ((BLOCK_SIZE - OFF_ENTRIES) / 4) as u64;
const _: () = assert!(OFF_ENTRIES + ENTRIES_PER_BLOCK as usize * 4 == BLOCK_SIZE);
/// "No checksum known."
pub const NONE: u32 = 0;

pub const fn checksum_blocks_for(block_count: u64) -> u64 {
    block_count.div_ceil(ENTRIES_PER_BLOCK)
}

/// The entry to store for `data` (never NONE).
pub fn data_checksum(data: &[u8]) -> u32 {
    let mut d = Crc32c::new();
    d.update(data);
    d.finish().max(1)
}

/// (table index, slot) of the entry for `block`.
pub fn locate(block: u64) -> (u64, usize) {
    (
        block / ENTRIES_PER_BLOCK,
        (block % ENTRIES_PER_BLOCK) as usize,
    )
}

/// An empty (all NONE) table block.
pub fn encode_empty(index: u64) -> [u8; BLOCK_SIZE] {
    let mut b = table_block::new_block(MAGIC, index);
    seal(&mut b);
    b
}

/// Recomputes the block's own checksum after entries changed.
pub fn seal(b: &mut [u8]) {
    table_block::seal(b);
}

/// Checks table block `index` read from device block `block`.
pub fn check(block: u64, index: u64, bytes: &[u8]) -> Result<(), Error> {
    table_block::check(block, bytes, MAGIC, index, "checksum table index")
}

/// The entries of a table block (empty if `table` is not a whole block).
fn entries(table: &[u8]) -> &[U32] {
    table
        .get(OFF_ENTRIES..)
        .and_then(|e| <[U32]>::ref_from_bytes(e).ok())
        .unwrap_or(&[])
}

/// Entry `slot` of a checked table block (`slot < ENTRIES_PER_BLOCK`).
pub fn entry(table: &[u8], slot: usize) -> u32 {
    entries(table)[slot].get()
}

/// Sets entry `slot` (the caller seals the block afterwards).
pub fn set_entry(table: &mut [u8], slot: usize, value: u32) {
    if let Some(e) = table
        .get_mut(OFF_ENTRIES..)
        .and_then(|e| <[U32]>::mut_from_bytes(e).ok())
    {
        e[slot] = value.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Corruption;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_damage() {
        let mut t = encode_empty(2);
        check(9, 2, &t).unwrap();
        set_entry(&mut t, 1019, 0xDEAD_BEEF);
        seal(&mut t);
        check(9, 2, &t).unwrap();
        assert_eq!(entry(&t, 1019), 0xDEAD_BEEF);
        assert_eq!(entry(&t, 0), NONE);
        assert!(matches!(
            check(9, 3, &t),
            Err(Error::Corrupt { block: 9, .. })
        ));
        t[2000] ^= 1;
        assert!(matches!(
            check(9, 2, &t),
            Err(Error::Corrupt {
                detail: Corruption::Checksum { .. },
                ..
            })
        ));
        assert_eq!(locate(1021), (1, 1));
        assert_ne!(data_checksum(&[0u8; BLOCK_SIZE]), NONE);
    }

    proptest! {
        #[test]
        fn check_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4200), index in 0u64..3) {
            let _ = check(0, index, &bytes);
        }
    }
}
