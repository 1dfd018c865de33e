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

use crate::chunker::MAX_CHUNK;

const OFF_START: usize = 0;
const OFF_LEN: usize = 8;
const OFF_FLAGS: usize = 12;
const OFF_EPOCH: usize = 16;
const _: () = assert!(OFF_EPOCH + 8 == IndexEntry::ENCODED_LEN);
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
        let mut out = [0u8; Self::ENCODED_LEN];
        out[OFF_START..OFF_START + 8].copy_from_slice(&self.start.to_le_bytes());
        out[OFF_LEN..OFF_LEN + 4].copy_from_slice(&self.len.to_le_bytes());
        out[OFF_EPOCH..OFF_EPOCH + 8].copy_from_slice(&self.epoch.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, IndexEntryDecodeError> {
        let b: &[u8; Self::ENCODED_LEN] = bytes
            .try_into()
            .map_err(|_| IndexEntryDecodeError::WrongSize { len: bytes.len() })?;
        let u64_at = |at: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(b.get(at..at + 8).unwrap_or(&[0; 8]));
            u64::from_le_bytes(v)
        };
        let u32_at = |at: usize| {
            let mut v = [0u8; 4];
            v.copy_from_slice(b.get(at..at + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(v)
        };
        let entry = IndexEntry {
            start: u64_at(OFF_START),
            len: u32_at(OFF_LEN),
            epoch: u64_at(OFF_EPOCH),
        };
        let flags = u32_at(OFF_FLAGS);
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
        b[OFF_FLAGS] = 1;
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
