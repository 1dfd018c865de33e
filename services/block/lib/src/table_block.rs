//! The header shared by the block layer's table blocks: the free-space bitmap
//! (`bitmap.rs`) and the data checksum table (`checksums.rs`). Each table's
//! own file lays out the payload.
//!
//! # Byte layout (all integers little-endian)
//! ```text
//! offset size  field
//!  0     4     magic     names the table ("BMAP", "CSUM")
//!  4     4     checksum  CRC-32C of the whole block with this field zeroed
//!  8     8     index     position of this block in its table
//! 16     4080  payload   the table's entries
//! ```
//!
//! # Invariants
//! A table block is used only after `check` found its magic, checksum and
//! index right: a block written to the wrong place (misdirected write) or
//! torn fails the index or checksum check and is reported with its number.

use crate::checksum::crc32c_skipping;
use crate::error::{Corruption, Error};
use crate::BLOCK_SIZE;

const OFF_MAGIC: usize = 0;
const OFF_CHECKSUM: usize = 4;
const OFF_INDEX: usize = 8;
/// Where the payload starts.
pub const OFF_PAYLOAD: usize = 16;

/// A zeroed table block with its magic and index written; fill the payload,
/// then `seal` it.
pub fn new_block(magic: u32, index: u64) -> [u8; BLOCK_SIZE] {
    let mut b = [0u8; BLOCK_SIZE];
    b[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&magic.to_le_bytes());
    b[OFF_INDEX..OFF_INDEX + 8].copy_from_slice(&index.to_le_bytes());
    b
}

/// Recomputes the block's checksum after its payload changed.
pub fn seal(b: &mut [u8]) {
    let crc = crc32c_skipping(b, OFF_CHECKSUM);
    b[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Checks the header of table block `index` read from device block `block`;
/// `index_name` names the index field in the error ("bitmap index").
pub fn check(
    block: u64,
    bytes: &[u8],
    magic: u32,
    index: u64,
    index_name: &'static str,
) -> Result<(), Error> {
    let corrupt = |detail| Error::Corrupt { block, detail };
    if bytes.len() != BLOCK_SIZE {
        return Err(corrupt(Corruption::Field {
            name: "length",
            value: bytes.len() as u64,
        }));
    }
    // Fixed offsets inside a buffer just checked to be BLOCK_SIZE long.
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let found_magic = u32_at(OFF_MAGIC);
    if found_magic != magic {
        return Err(corrupt(Corruption::Magic {
            expected: magic,
            found: found_magic,
        }));
    }
    let stored = u32_at(OFF_CHECKSUM);
    let computed = crc32c_skipping(bytes, OFF_CHECKSUM);
    if stored != computed {
        return Err(corrupt(Corruption::Checksum { stored, computed }));
    }
    let mut idx = [0u8; 8];
    idx.copy_from_slice(&bytes[OFF_INDEX..OFF_INDEX + 8]);
    let found = u64::from_le_bytes(idx);
    if found != index {
        return Err(corrupt(Corruption::Field {
            name: index_name,
            value: found,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_block_checks_and_damage_is_named() {
        let mut b = new_block(0x1234_5678, 7);
        b[OFF_PAYLOAD] = 0xAB;
        seal(&mut b);
        assert!(check(99, &b, 0x1234_5678, 7, "test index").is_ok());
        assert!(matches!(
            check(99, &b, 0x1234_5678, 8, "test index"),
            Err(Error::Corrupt {
                block: 99,
                detail: Corruption::Field {
                    name: "test index",
                    value: 7
                }
            })
        ));
        assert!(matches!(
            check(99, &b, 0x0BAD_0BAD, 7, "test index"),
            Err(Error::Corrupt {
                detail: Corruption::Magic { .. },
                ..
            })
        ));
        b[100] ^= 1;
        assert!(matches!(
            check(99, &b, 0x1234_5678, 7, "test index"),
            Err(Error::Corrupt {
                detail: Corruption::Checksum { .. },
                ..
            })
        ));
        assert!(check(99, &b[..512], 0x1234_5678, 7, "test index").is_err());
    }
}
