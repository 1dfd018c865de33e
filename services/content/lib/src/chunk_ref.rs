//! `ChunkRef`: what an owner stores to name a chunk (e.g. in a file's extent
//! map), and its byte layout.
//!
//! ```text
//! offset size field
//!      0   32 HASH   BLAKE3 of the chunk's bytes
//!     32    4 LEN    u32 LE, chunk length in bytes, 1..=MAX_CHUNK
//! ```

use core::fmt;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::chunker::MAX_CHUNK;

/// The layout above, field by field.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RefBytes {
    hash: [u8; 32],
    len: U32,
}
const _: () = assert!(core::mem::size_of::<RefBytes>() == ChunkRef::ENCODED_LEN);
const _: () = assert!(MAX_CHUNK <= u32::MAX as usize);

/// A chunk named by its content: BLAKE3 hash and length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef {
    pub hash: [u8; 32],
    pub len: u32,
}

impl fmt::Debug for ChunkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkRef({}, {} bytes)", Hex(&self.hash), self.len)
    }
}

/// Lower-case hex of a hash, for messages.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why bytes are not a valid [`ChunkRef`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkRefDecodeError {
    WrongSize { len: usize },
    BadLength { len: u32 },
}

impl fmt::Display for ChunkRefDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize { len } => write!(
                f,
                "chunk reference is {len} bytes, expected {}",
                ChunkRef::ENCODED_LEN
            ),
            Self::BadLength { len } => write!(f, "chunk length {len} outside 1..={MAX_CHUNK}"),
        }
    }
}

impl ChunkRef {
    pub const ENCODED_LEN: usize = 36;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let bytes = RefBytes {
            hash: self.hash,
            len: self.len.into(),
        };
        let mut out = [0u8; Self::ENCODED_LEN];
        out.copy_from_slice(bytes.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ChunkRefDecodeError> {
        let b = RefBytes::ref_from_bytes(bytes)
            .map_err(|_| ChunkRefDecodeError::WrongSize { len: bytes.len() })?;
        let (hash, len) = (b.hash, b.len.get());
        if len == 0 || len as usize > MAX_CHUNK {
            return Err(ChunkRefDecodeError::BadLength { len });
        }
        Ok(ChunkRef { hash, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let r = ChunkRef {
            hash: [0xab; 32],
            len: 65536,
        };
        assert_eq!(ChunkRef::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn zero_and_oversized_lengths_rejected() {
        let mut r = ChunkRef {
            hash: [1; 32],
            len: 0,
        };
        assert_eq!(
            ChunkRef::decode(&r.encode()),
            Err(ChunkRefDecodeError::BadLength { len: 0 })
        );
        r.len = MAX_CHUNK as u32 + 1;
        assert!(ChunkRef::decode(&r.encode()).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ChunkRef::decode(&bytes);
        }
    }
}
