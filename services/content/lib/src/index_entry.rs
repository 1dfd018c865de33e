//! The chunk index's value: where a chunk's bytes are, and its byte layout.
//! The index is a `cowbtree` keyed by the chunk's 32-byte BLAKE3 hash; its
//! nodes carry the checksums, so the value itself has none.
//!
//! ```text
//! offset size field
//!      0    8 START   u64 LE, first block of the chunk's extent
//!      8    4 LEN     u32 LE, chunk length in bytes, 1..=MAX_CHUNK
//!     12    4 FLAGS   u32 LE, no flag defined yet: must be 0
//!     16    8 EPOCH   u64 LE, GC epoch of the last put of this chunk
//! ```
//!
//! The extent is `ceil(LEN / 4096)` blocks from START; the bytes past LEN in
//! the last block are zero.

use core::fmt;

use block::BLOCK_SIZE;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::chunker::MAX_CHUNK;

/// The layout above, field by field (little-endian integers).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct EntryBytes {
    start: U64,
    len: U32,
    flags: U32,
    epoch: U64,
}
const _: () = assert!(core::mem::size_of::<EntryBytes>() == IndexEntry::ENCODED_LEN);
const _: () = assert!(IndexEntry::ENCODED_LEN <= cowbtree::MAX_VALUE_LEN);

/// Where a stored chunk lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub start: u64,
    pub len: u32,
    pub epoch: u64,
}

/// Why an index value is not a valid [`IndexEntry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexEntryDecodeError {
    WrongSize { len: usize },
    BadLength { len: u32 },
    UnknownFlags { flags: u32 },
    ExtentOverflows { start: u64 },
}

impl fmt::Display for IndexEntryDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize { len } => write!(
                f,
                "index value is {len} bytes, expected {}",
                IndexEntry::ENCODED_LEN
            ),
            Self::BadLength { len } => write!(f, "chunk length {len} outside 1..={MAX_CHUNK}"),
            Self::UnknownFlags { flags } => write!(f, "unknown chunk flags {flags:#x}"),
            Self::ExtentOverflows { start } => write!(f, "chunk extent at block {start} overflows"),
        }
    }
}

impl IndexEntry {
    pub const ENCODED_LEN: usize = 24;

    /// Blocks the chunk occupies.
    pub fn blocks(&self) -> u64 {
        blocks_for(self.len as usize)
    }

    pub fn extent(&self) -> block::Extent {
        block::Extent::new(self.start, self.blocks())
    }

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let bytes = EntryBytes {
            start: self.start.into(),
            len: self.len.into(),
            flags: 0.into(),
            epoch: self.epoch.into(),
        };
        let mut out = [0u8; Self::ENCODED_LEN];
        out.copy_from_slice(bytes.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, IndexEntryDecodeError> {
        let b = EntryBytes::ref_from_bytes(bytes)
            .map_err(|_| IndexEntryDecodeError::WrongSize { len: bytes.len() })?;
        let entry = IndexEntry {
            start: b.start.get(),
            len: b.len.get(),
            epoch: b.epoch.get(),
        };
        let flags = b.flags.get();
        if flags != 0 {
            return Err(IndexEntryDecodeError::UnknownFlags { flags });
        }
        if entry.len == 0 || entry.len as usize > MAX_CHUNK {
            return Err(IndexEntryDecodeError::BadLength { len: entry.len });
        }
        if entry.start.checked_add(entry.blocks()).is_none() {
            return Err(IndexEntryDecodeError::ExtentOverflows { start: entry.start });
        }
        Ok(entry)
    }
}

/// Blocks needed for `len` bytes.
pub fn blocks_for(len: usize) -> u64 {
    len.div_ceil(BLOCK_SIZE) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let e = IndexEntry {
            start: 1 << 40,
            len: MAX_CHUNK as u32,
            epoch: 3,
        };
        assert_eq!(IndexEntry::decode(&e.encode()), Ok(e));
        assert_eq!(e.blocks(), 64);
    }

    #[test]
    fn rejects_flags_and_bad_lengths() {
        let mut b = IndexEntry {
            start: 5,
            len: 10,
            epoch: 0,
        }
        .encode();
        b[core::mem::offset_of!(EntryBytes, flags)] = 1;
        assert_eq!(
            IndexEntry::decode(&b),
            Err(IndexEntryDecodeError::UnknownFlags { flags: 1 })
        );
        let b = IndexEntry {
            start: 5,
            len: 0,
            epoch: 0,
        }
        .encode();
        assert_eq!(
            IndexEntry::decode(&b),
            Err(IndexEntryDecodeError::BadLength { len: 0 })
        );
        let b = IndexEntry {
            start: u64::MAX,
            len: 10,
            epoch: 0,
        }
        .encode();
        assert_eq!(
            IndexEntry::decode(&b),
            Err(IndexEntryDecodeError::ExtentOverflows { start: u64::MAX })
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = IndexEntry::decode(&bytes);
        }
    }
}
