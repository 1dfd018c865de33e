//! `ContentRoot`: the content store's persistent state (its chunk index root
//! and counters), serialised into bytes the owner stores with its own roots
//! (the filesystem keeps all roots in one root block). Byte layout:
//!
//! ```text
//! offset size field
//!      0    4 MAGIC          b"CSR1"
//!      4    4 CHANGES        u32 LE, requests of the content service that
//!                            changed a block, counted from the root they
//!                            came with (wrapping): see `index_cache.rs`
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
//! `CHANGES` is not a count of anything on disk: it only makes the root a
//! changing request answers differ from the root it came with, even when
//! the request rewrote index nodes in place and nothing else moved (the
//! service's cache of index nodes relies on it, `index_cache.rs`).
//! The counters equal the sums over the index's entries (`ContentStore::check`
//! verifies it); they change in the same transaction as the index.

use core::fmt;

use cowbtree::{RootDecodeError, TreeRoot};
use crc::{Crc, Table, CRC_32_ISCSI};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// CRC-32C, the checksum of every persistent structure of the system.
const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

const MAGIC: [u8; 4] = *b"CSR1";

/// The layout above, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RootBytes {
    magic: [u8; 4],
    changes: U32,
    index: [u8; TreeRoot::ENCODED_LEN],
    chunks: U64,
    chunk_bytes: U64,
    data_blocks: U64,
    epoch: U64,
    checksum: U32,
    reserved2: [u8; 4],
}
const OFF_CHECKSUM: usize = core::mem::offset_of!(RootBytes, checksum);
const _: () = assert!(OFF_CHECKSUM == 88);
const _: () = assert!(core::mem::size_of::<RootBytes>() == ContentRoot::ENCODED_LEN);

/// The content store's persistent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRoot {
    pub index: TreeRoot,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub data_blocks: u64,
    pub epoch: u64,
    /// Changing requests of the content service, wrapping (`CHANGES`).
    pub changes: u32,
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

impl ContentRoot {
    pub const ENCODED_LEN: usize = 96;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut root = RootBytes {
            magic: MAGIC,
            changes: self.changes.into(),
            index: self.index.encode(),
            chunks: self.chunks.into(),
            chunk_bytes: self.chunk_bytes.into(),
            data_blocks: self.data_blocks.into(),
            epoch: self.epoch.into(),
            checksum: 0.into(),
            reserved2: [0; 4],
        };
        root.checksum = CRC32C.checksum(&root.as_bytes()[..OFF_CHECKSUM]).into();
        let mut out = [0u8; Self::ENCODED_LEN];
        out.copy_from_slice(root.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ContentRootDecodeError> {
        let wrong_size = ContentRootDecodeError::WrongSize { len: bytes.len() };
        let root = RootBytes::ref_from_bytes(bytes).map_err(|_| wrong_size)?;
        if root.magic != MAGIC {
            return Err(ContentRootDecodeError::BadMagic { found: root.magic });
        }
        let stored = root.checksum.get();
        let computed = CRC32C.checksum(&bytes[..OFF_CHECKSUM]);
        if stored != computed {
            return Err(ContentRootDecodeError::ChecksumMismatch { stored, computed });
        }
        if root.reserved2.iter().any(|&b| b != 0) {
            return Err(ContentRootDecodeError::ReservedNotZero);
        }
        let index = TreeRoot::decode(&root.index).map_err(ContentRootDecodeError::Index)?;
        Ok(ContentRoot {
            index,
            chunks: root.chunks.get(),
            chunk_bytes: root.chunk_bytes.get(),
            data_blocks: root.data_blocks.get(),
            epoch: root.epoch.get(),
            changes: root.changes.get(),
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
            changes: 41,
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
