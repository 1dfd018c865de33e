//! `ContentRoot`: the content store's persistent state (its chunk index root
//! and counters), serialised into bytes the owner stores with its own roots
//! (the filesystem keeps all roots in one root block). Byte layout:
//!
//! ```text
//! offset size field
//!      0    4 MAGIC          b"CSR1"
//!      4    4 RESERVED       0
//!      8   48 INDEX          cowbtree::TreeRoot of the chunk index
//!     56    8 CHUNKS         u64 LE, distinct chunks stored
//!     64    8 CHUNK_BYTES    u64 LE, sum of their lengths
//!     72    8 DATA_BLOCKS    u64 LE, sum of their extents' blocks
//!     80    8 EPOCH          u64 LE, current GC epoch
//!     88    4 CHECKSUM       crc32c of bytes 0..88
//!     92    4 RESERVED       0
//! ```
//!
//! # Invariants
//! The counters equal the sums over the index's entries (`ContentStore::check`
//! verifies it); they change in the same transaction as the index.

use core::fmt;

use cowbtree::{RootDecodeError, TreeRoot};
use crc::{Crc, Table, CRC_32_ISCSI};

/// CRC-32C, the checksum of every persistent structure of the system.
const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

const MAGIC: [u8; 4] = *b"CSR1";
const OFF_MAGIC: usize = 0;
const OFF_INDEX: usize = 8;
const OFF_CHUNKS: usize = 56;
const OFF_CHUNK_BYTES: usize = 64;
const OFF_DATA_BLOCKS: usize = 72;
const OFF_EPOCH: usize = 80;
const OFF_CHECKSUM: usize = 88;
const OFF_RESERVED2: usize = 92;
const _: () = assert!(OFF_INDEX + TreeRoot::ENCODED_LEN == OFF_CHUNKS);
const _: () = assert!(OFF_RESERVED2 + 4 == ContentRoot::ENCODED_LEN);

/// The content store's persistent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRoot {
    pub index: TreeRoot,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub data_blocks: u64,
    pub epoch: u64,
}

/// Why bytes are not a valid [`ContentRoot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentRootDecodeError {
    WrongSize { len: usize },
    BadMagic { found: [u8; 4] },
    ChecksumMismatch { stored: u32, computed: u32 },
    ReservedNotZero,
    Index(RootDecodeError),
}

impl fmt::Display for ContentRootDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize { len } => write!(
                f,
                "content root is {len} bytes, expected {}",
                ContentRoot::ENCODED_LEN
            ),
            Self::BadMagic { found } => write!(f, "bad content root magic {found:02x?}"),
            Self::ChecksumMismatch { stored, computed } => {
                write!(f, "content root checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::ReservedNotZero => write!(f, "content root reserved bytes are not zero"),
            Self::Index(e) => write!(f, "chunk index root: {e}"),
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

impl ContentRoot {
    pub const ENCODED_LEN: usize = 96;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MAGIC);
        out[OFF_INDEX..OFF_CHUNKS].copy_from_slice(&self.index.encode());
        out[OFF_CHUNKS..OFF_CHUNKS + 8].copy_from_slice(&self.chunks.to_le_bytes());
        out[OFF_CHUNK_BYTES..OFF_CHUNK_BYTES + 8].copy_from_slice(&self.chunk_bytes.to_le_bytes());
        out[OFF_DATA_BLOCKS..OFF_DATA_BLOCKS + 8].copy_from_slice(&self.data_blocks.to_le_bytes());
        out[OFF_EPOCH..OFF_EPOCH + 8].copy_from_slice(&self.epoch.to_le_bytes());
        let sum = CRC32C.checksum(&out[..OFF_CHECKSUM]);
        out[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ContentRootDecodeError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(ContentRootDecodeError::WrongSize { len: bytes.len() });
        }
        let magic: [u8; 4] = bytes
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        if magic != MAGIC {
            return Err(ContentRootDecodeError::BadMagic { found: magic });
        }
        let stored: [u8; 4] = bytes
            .get(OFF_CHECKSUM..OFF_CHECKSUM + 4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        let stored = u32::from_le_bytes(stored);
        let computed = CRC32C.checksum(bytes.get(..OFF_CHECKSUM).unwrap_or_default());
        if stored != computed {
            return Err(ContentRootDecodeError::ChecksumMismatch { stored, computed });
        }
        let reserved1 = bytes.get(4..OFF_INDEX).unwrap_or_default();
        let reserved2 = bytes.get(OFF_RESERVED2..).unwrap_or_default();
        if reserved1.iter().chain(reserved2).any(|&b| b != 0) {
            return Err(ContentRootDecodeError::ReservedNotZero);
        }
        let index = TreeRoot::decode(bytes.get(OFF_INDEX..OFF_CHUNKS).unwrap_or_default())
            .map_err(ContentRootDecodeError::Index)?;
        Ok(ContentRoot {
            index,
            chunks: u64_at(bytes, OFF_CHUNKS),
            chunk_bytes: u64_at(bytes, OFF_CHUNK_BYTES),
            data_blocks: u64_at(bytes, OFF_DATA_BLOCKS),
            epoch: u64_at(bytes, OFF_EPOCH),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ContentRoot {
        ContentRoot {
            index: TreeRoot {
                block: 99,
                height: 2,
                generation: 5,
                snapshot_generation: 1,
                entries: 12,
            },
            chunks: 12,
            chunk_bytes: 700_000,
            data_blocks: 180,
            epoch: 3,
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(ContentRoot::decode(&sample().encode()), Ok(sample()));
    }

    #[test]
    fn flipped_bit_rejected() {
        let mut b = sample().encode();
        b[60] ^= 4;
        assert!(matches!(
            ContentRoot::decode(&b),
            Err(ContentRootDecodeError::ChecksumMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = ContentRoot::decode(&bytes);
        }
    }
}
