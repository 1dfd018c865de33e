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

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::crc32c_skipping;
use crate::error::{Corruption, Error};
use crate::BLOCK_SIZE;

/// The header above, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Header {
    magic: U32,
    checksum: U32,
    index: U64,
}
const OFF_CHECKSUM: usize = offset_of!(Header, checksum);
/// Where the payload starts.
pub const OFF_PAYLOAD: usize = size_of::<Header>();
const _: () = assert!(OFF_CHECKSUM == 4 && offset_of!(Header, index) == 8);
const _: () = assert!(OFF_PAYLOAD == 16);

/// A zeroed table block with its magic and index written; fill the payload,
/// then `seal` it.
pub fn new_block(magic: u32, index: u64) -> [u8; BLOCK_SIZE] {
    let mut b = [0u8; BLOCK_SIZE];
    let header = Header {
        magic: magic.into(),
        checksum: 0.into(),
        index: index.into(),
    };
    b[..OFF_PAYLOAD].copy_from_slice(header.as_bytes());
    b
}

/// Recomputes the block's checksum after its payload changed.
pub fn seal(b: &mut [u8]) {
    let crc = crc32c_skipping(b, OFF_CHECKSUM);
    if let Ok((header, _)) = Header::mut_from_prefix(b) {
        header.checksum = crc.into();
    }
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
    let header = match Header::ref_from_prefix(bytes) {
        Ok((header, _)) if bytes.len() == BLOCK_SIZE => header,
        _ => {
            return Err(corrupt(Corruption::Field {
                name: "length",
                value: bytes.len() as u64,
            }))
        }
    };
    let found_magic = header.magic.get();
    if found_magic != magic {
        return Err(corrupt(Corruption::Magic {
            expected: magic,
            found: found_magic,
        }));
    }
    let stored = header.checksum.get();
    let computed = crc32c_skipping(bytes, OFF_CHECKSUM);
    if stored != computed {
        return Err(corrupt(Corruption::Checksum { stored, computed }));
    }
    let found = header.index.get();
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
