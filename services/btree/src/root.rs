//! `TreeRoot`: the fixed-size handle that names a tree, and its byte layout.
//!
//! ```text
//! offset size field
//!      0    4 MAGIC                b"CBTR"
//!      4    1 HEIGHT               levels in the tree, 1 = the root is a leaf
//!      5    3 RESERVED             0
//!      8    8 BLOCK                u64 LE, block of the root node
//!     16    8 GENERATION           u64 LE, generation written into changed nodes
//!     24    8 SNAPSHOT_GENERATION  u64 LE, nodes at or below it may be shared
//!     32    8 ENTRIES              u64 LE, number of key/value pairs
//!     40    4 CHECKSUM             crc32c of bytes 0..40
//!     44    4 RESERVED             0
//! ```
//!
//! Owners store the 48 encoded bytes wherever they keep their roots (a root
//! block, or a value in another tree).
//!
//! # Invariants (checked by [`TreeRoot::decode`])
//! - `1 <= height <= MAX_LEVEL + 1`.
//! - `snapshot_generation < generation`: nodes the tree writes from now on are
//!   never confused with nodes a snapshot may share.

use core::fmt;

use crate::node::MAX_LEVEL;

const MAGIC: [u8; 4] = *b"CBTR";
const OFF_MAGIC: usize = 0;
const OFF_HEIGHT: usize = 4;
const OFF_BLOCK: usize = 8;
const OFF_GENERATION: usize = 16;
const OFF_SNAPSHOT_GENERATION: usize = 24;
const OFF_ENTRIES: usize = 32;
const OFF_CHECKSUM: usize = 40;
const OFF_RESERVED: usize = 44;

const _: () = assert!(OFF_RESERVED + 4 == TreeRoot::ENCODED_LEN);
const _: () = assert!(OFF_ENTRIES + 8 == OFF_CHECKSUM);

/// Names a tree: where its root node is and which nodes it may change in place.
///
/// A copy of a `TreeRoot` is a snapshot only when taken with
/// [`crate::snapshot`], which advances the generations so that neither copy
/// changes a node the other still uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeRoot {
    /// Block of the root node.
    pub block: u64,
    /// Number of levels; 1 when the root is a leaf.
    pub height: u8,
    /// Generation stamped into every node this tree writes.
    pub generation: u64,
    /// Nodes whose generation is at or below this may be shared with a
    /// snapshot and are copied before change.
    pub snapshot_generation: u64,
    /// Number of key/value pairs in the tree.
    pub entries: u64,
}

/// Why 48 bytes are not a valid [`TreeRoot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootDecodeError {
    WrongSize {
        len: usize,
    },
    BadMagic {
        found: [u8; 4],
    },
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
    BadHeight {
        height: u8,
    },
    GenerationsOutOfOrder {
        generation: u64,
        snapshot_generation: u64,
    },
    ReservedNotZero,
}

impl fmt::Display for RootDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize { len } => write!(
                f,
                "tree root is {len} bytes, expected {}",
                TreeRoot::ENCODED_LEN
            ),
            Self::BadMagic { found } => write!(f, "bad tree root magic {found:02x?}"),
            Self::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "tree root checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            Self::BadHeight { height } => {
                write!(f, "tree height {height} outside 1..={}", MAX_LEVEL + 1)
            }
            Self::GenerationsOutOfOrder {
                generation,
                snapshot_generation,
            } => write!(
                f,
                "snapshot generation {snapshot_generation} is not below generation {generation}"
            ),
            Self::ReservedNotZero => write!(f, "tree root reserved bytes are not zero"),
        }
    }
}

fn field<const N: usize>(bytes: &[u8; TreeRoot::ENCODED_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = bytes.get(at..at + N) {
        out.copy_from_slice(s);
    }
    out
}

impl TreeRoot {
    /// Size of the encoded form.
    pub const ENCODED_LEN: usize = 48;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MAGIC);
        out[OFF_HEIGHT] = self.height;
        out[OFF_BLOCK..OFF_BLOCK + 8].copy_from_slice(&self.block.to_le_bytes());
        out[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&self.generation.to_le_bytes());
        out[OFF_SNAPSHOT_GENERATION..OFF_SNAPSHOT_GENERATION + 8]
            .copy_from_slice(&self.snapshot_generation.to_le_bytes());
        out[OFF_ENTRIES..OFF_ENTRIES + 8].copy_from_slice(&self.entries.to_le_bytes());
        let sum = crate::checksum::crc32c(&[&out[..OFF_CHECKSUM]]);
        out[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, RootDecodeError> {
        let b: &[u8; Self::ENCODED_LEN] = bytes
            .try_into()
            .map_err(|_| RootDecodeError::WrongSize { len: bytes.len() })?;
        let magic = field::<4>(b, OFF_MAGIC);
        if magic != MAGIC {
            return Err(RootDecodeError::BadMagic { found: magic });
        }
        let stored = u32::from_le_bytes(field(b, OFF_CHECKSUM));
        let computed = crate::checksum::crc32c(&[b.get(..OFF_CHECKSUM).unwrap_or_default()]);
        if stored != computed {
            return Err(RootDecodeError::ChecksumMismatch { stored, computed });
        }
        if field::<3>(b, OFF_HEIGHT + 1) != [0; 3] || field::<4>(b, OFF_RESERVED) != [0; 4] {
            return Err(RootDecodeError::ReservedNotZero);
        }
        let height = field::<1>(b, OFF_HEIGHT)[0];
        if height == 0 || height > MAX_LEVEL + 1 {
            return Err(RootDecodeError::BadHeight { height });
        }
        let generation = u64::from_le_bytes(field(b, OFF_GENERATION));
        let snapshot_generation = u64::from_le_bytes(field(b, OFF_SNAPSHOT_GENERATION));
        if snapshot_generation >= generation {
            return Err(RootDecodeError::GenerationsOutOfOrder {
                generation,
                snapshot_generation,
            });
        }
        Ok(TreeRoot {
            block: u64::from_le_bytes(field(b, OFF_BLOCK)),
            height,
            generation,
            snapshot_generation,
            entries: u64::from_le_bytes(field(b, OFF_ENTRIES)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let r = TreeRoot {
            block: 123,
            height: 3,
            generation: 9,
            snapshot_generation: 4,
            entries: 77,
        };
        assert_eq!(TreeRoot::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn rejects_bad_generations() {
        let r = TreeRoot {
            block: 1,
            height: 1,
            generation: 4,
            snapshot_generation: 4,
            entries: 0,
        };
        assert_eq!(
            TreeRoot::decode(&r.encode()),
            Err(RootDecodeError::GenerationsOutOfOrder {
                generation: 4,
                snapshot_generation: 4
            })
        );
    }

    #[test]
    fn rejects_flipped_bit() {
        let r = TreeRoot {
            block: 1,
            height: 1,
            generation: 4,
            snapshot_generation: 0,
            entries: 0,
        };
        let mut b = r.encode();
        b[9] ^= 0x10;
        assert!(matches!(
            TreeRoot::decode(&b),
            Err(RootDecodeError::ChecksumMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = TreeRoot::decode(&bytes);
        }
    }
}
