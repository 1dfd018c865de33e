//! One B+tree node per 4096-byte block: its byte layout, encoder and decoder.
//!
//! ```text
//! offset size field
//!      0    4 MAGIC            b"CBTN"
//!      4    4 CHECKSUM         crc32c(block number as u64 LE ++ bytes 8..4096)
//!      8    8 GENERATION       u64 LE, the tree generation that last wrote the node
//!     16    1 LEVEL            0 = leaf, n = branch whose children are at level n-1
//!     17    1 RESERVED         0
//!     18    2 COUNT            u16 LE, number of entries
//!     20    2 USED             u16 LE, bytes of entries following the header
//!     22   10 RESERVED         0
//!     32    … ENTRIES          COUNT entries, USED bytes, then zeros to the block end
//!
//! leaf entry:    key_len u8 | value_len u16 LE | key | value
//! branch entry:  key_len u8 | child block u64 LE | key
//! ```
//!
//! All integers are little-endian. The checksum covers the block number the
//! node was written to, so a block written to (or read from) the wrong place
//! fails verification like a torn one.
//!
//! # Invariants (checked by [`Node::decode`])
//! - Keys are at most [`MAX_KEY_LEN`] bytes, values at most [`MAX_VALUE_LEN`].
//! - Keys within a node are strictly increasing.
//! - A branch has at least one entry and its first key is empty: child 0
//!   holds every key below the second separator (the empty key sorts first).
//!   Separator `i > 0` is a lower bound of every key in child `i`.
//! - `LEVEL <= MAX_LEVEL`, entries fill exactly `USED` bytes, the rest of the
//!   block is zero.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

mod probe;
mod view;

pub use probe::Probe;
pub use view::NodeView;

/// Bytes per node; equal to the block size.
pub const NODE_SIZE: usize = 4096;
/// Longest key the tree stores.
pub const MAX_KEY_LEN: usize = 255;
/// Longest value the tree stores. With keys of 255 bytes a leaf entry is at
/// most 1282 bytes, so any leaf holds at least three of them and a split of an
/// overfull node always yields two halves that fit.
pub const MAX_VALUE_LEN: usize = 1024;
/// Highest level a node may claim. A tree of height 25 with the minimum fan-out
/// of 2 would already address 2^24 leaves; deeper is a crafted or corrupt node.
pub const MAX_LEVEL: u8 = 24;

const MAGIC: [u8; 4] = *b"CBTN";
const OFF_MAGIC: usize = 0;
const OFF_CHECKSUM: usize = 4;
const OFF_GENERATION: usize = 8;
const OFF_LEVEL: usize = 16;
const OFF_RESERVED1: usize = 17;
const OFF_COUNT: usize = 18;
const OFF_USED: usize = 20;
const OFF_RESERVED2: usize = 22;
/// Size of the node header; entries start here.
pub const HEADER_LEN: usize = 32;
/// Bytes available for entries.
pub const CAPACITY: usize = NODE_SIZE - HEADER_LEN;

const LEAF_ENTRY_OVERHEAD: usize = 1 + 2;
const BRANCH_ENTRY_OVERHEAD: usize = 1 + 8;

const _: () = assert!(OFF_RESERVED2 + 10 == HEADER_LEN);
const _: () = assert!(OFF_USED + 2 == OFF_RESERVED2);
const _: () = assert!(CAPACITY <= u16::MAX as usize);
// A split must always produce two halves that fit: three maximal leaf entries
// fit in one node.
const _: () = assert!(3 * (LEAF_ENTRY_OVERHEAD + MAX_KEY_LEN + MAX_VALUE_LEN) <= CAPACITY);
const _: () = assert!(MAX_KEY_LEN <= u8::MAX as usize);
const _: () = assert!(MAX_VALUE_LEN <= u16::MAX as usize);

/// One key/value pair of a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// One separator/child pair of a branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchEntry {
    pub key: Vec<u8>,
    pub child: u64,
}

/// The entries of a node: pairs for a leaf, children for a branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entries {
    Leaf(Vec<LeafEntry>),
    Branch(Vec<BranchEntry>),
}

/// A decoded node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub generation: u64,
    pub level: u8,
    pub entries: Entries,
}

/// Why a block is not a valid node. Every variant names the values seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeDecodeError {
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
    LevelTooHigh {
        level: u8,
    },
    ReservedNotZero {
        offset: usize,
    },
    UsedTooLarge {
        used: usize,
    },
    EntryOverrun {
        index: usize,
        offset: usize,
    },
    ValueTooLong {
        index: usize,
        len: usize,
    },
    KeysOutOfOrder {
        index: usize,
    },
    CountMismatch {
        count: usize,
        used: usize,
        consumed: usize,
    },
    EmptyBranch,
    FirstBranchKeyNotEmpty {
        len: usize,
    },
}

impl fmt::Display for NodeDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize { len } => {
                write!(f, "node buffer is {len} bytes, expected {NODE_SIZE}")
            }
            Self::BadMagic { found } => write!(f, "bad magic {found:02x?}, expected \"CBTN\""),
            Self::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            Self::LevelTooHigh { level } => {
                write!(f, "level {level} exceeds the maximum {MAX_LEVEL}")
            }
            Self::ReservedNotZero { offset } => {
                write!(f, "reserved byte at offset {offset} is not zero")
            }
            Self::UsedTooLarge { used } => {
                write!(f, "entry area of {used} bytes exceeds {CAPACITY}")
            }
            Self::EntryOverrun { index, offset } => {
                write!(
                    f,
                    "entry {index} at offset {offset} runs past the entry area"
                )
            }
            Self::ValueTooLong { index, len } => {
                write!(
                    f,
                    "entry {index} has a {len}-byte value, maximum {MAX_VALUE_LEN}"
                )
            }
            Self::KeysOutOfOrder { index } => write!(
                f,
                "key {index} is not greater than key {}",
                index.saturating_sub(1)
            ),
            Self::CountMismatch {
                count,
                used,
                consumed,
            } => {
                write!(
                    f,
                    "{count} entries consumed {consumed} bytes but the header says {used}"
                )
            }
            Self::EmptyBranch => write!(f, "branch node has no children"),
            Self::FirstBranchKeyNotEmpty { len } => {
                write!(
                    f,
                    "first separator of a branch is {len} bytes, must be empty"
                )
            }
        }
    }
}

/// Node images checksummed (encoded or verified) since the program
/// started: a deterministic measure of the tree's CPU cost, which tests
/// bound per operation (issue #13). Relaxed: only a count.
static NODE_CHECKSUMS: AtomicU64 = AtomicU64::new(0);

/// Of [`NODE_CHECKSUMS`], the seals: images checksummed to be written.
static NODE_SEALS: AtomicU64 = AtomicU64::new(0);

/// How many node images this program has checksummed so far (each
/// [`Node::encode`], each [`seal`] and each verifying [`NodeView::parse`]).
pub fn node_checksums() -> u64 {
    NODE_CHECKSUMS.load(Ordering::Relaxed)
}

/// How many of [`node_checksums`] were seals of images to be written
/// ([`Node::encode`], [`seal`]): the rest verified images read.
pub fn node_seals() -> u64 {
    NODE_SEALS.load(Ordering::Relaxed)
}

/// Checksum of a node image as it should be stored in `CHECKSUM`.
///
/// The bytes past the entries (`USED`) are zeros in every node the tree
/// writes and every node that verifies, and the checksum of zeros is
/// computed without reading them ([`crate::checksum::crc32c_then_zeros`]):
/// the same value, for the entries' bytes only (a small put's nodes are
/// two-thirds full on average, issue #13). An image whose header or tail
/// says otherwise is checksummed in one pass over every byte as before, so
/// a damaged or crafted node fails exactly as it did.
fn node_checksum(block: u64, image: &[u8; NODE_SIZE]) -> u32 {
    NODE_CHECKSUMS.fetch_add(1, Ordering::Relaxed);
    let used = usize::from(u16::from_le_bytes([image[OFF_USED], image[OFF_USED + 1]]));
    let end = HEADER_LEN + used.min(CAPACITY);
    let (entries, tail) = image.split_at(end);
    if used <= CAPACITY && tail == &view::ZEROS[..tail.len()] {
        let entries = &entries[OFF_GENERATION..];
        return crate::checksum::crc32c_then_zeros(&[&block.to_le_bytes(), entries], tail.len());
    }
    crate::checksum::crc32c(&[&block.to_le_bytes(), &image[OFF_GENERATION..]])
}

impl Node {
    /// An empty leaf.
    pub fn empty_leaf(generation: u64) -> Self {
        Node {
            generation,
            level: 0,
            entries: Entries::Leaf(Vec::new()),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.entries {
            Entries::Leaf(v) => v.len(),
            Entries::Branch(v) => v.len(),
        }
    }

    /// True when the node has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the entries take in the encoded form.
    pub fn used_bytes(&self) -> usize {
        match &self.entries {
            Entries::Leaf(v) => v.iter().map(leaf_entry_size).sum(),
            Entries::Branch(v) => v.iter().map(branch_entry_size).sum(),
        }
    }

    /// True when the node fits in one block.
    pub fn fits(&self) -> bool {
        self.used_bytes() <= CAPACITY
    }

    /// Encodes the node as it is stored at `block`.
    ///
    /// The caller keeps the node within [`CAPACITY`] and its keys and values
    /// within the limits (the tree checks them at its entry points); a node
    /// that does not fit is a bug in the tree and panics here.
    pub fn encode(&self, block: u64) -> [u8; NODE_SIZE] {
        let mut out = self.encode_unsealed();
        seal(block, &mut out);
        out
    }

    /// [`Node::encode`] without the checksum (zero): the image to hand to
    /// [`block::Transactional::write_sealing`] with [`seal`].
    pub fn encode_unsealed(&self) -> [u8; NODE_SIZE] {
        let used = self.used_bytes();
        assert!(used <= CAPACITY, "node of {used} bytes does not fit");
        let mut out = [0u8; NODE_SIZE];
        out[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MAGIC);
        out[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&self.generation.to_le_bytes());
        out[OFF_LEVEL] = self.level;
        out[OFF_COUNT..OFF_COUNT + 2].copy_from_slice(&(self.len() as u16).to_le_bytes());
        out[OFF_USED..OFF_USED + 2].copy_from_slice(&(used as u16).to_le_bytes());
        let mut at = HEADER_LEN;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        match &self.entries {
            Entries::Leaf(v) => {
                for e in v {
                    put(&[e.key.len() as u8]);
                    put(&(e.value.len() as u16).to_le_bytes());
                    put(&e.key);
                    put(&e.value);
                }
            }
            Entries::Branch(v) => {
                for e in v {
                    put(&[e.key.len() as u8]);
                    put(&e.child.to_le_bytes());
                    put(&e.key);
                }
            }
        }
        out
    }

    /// Decodes and verifies the node stored at `block` into owned entries.
    /// Never panics, whatever the bytes.
    pub fn decode(block: u64, bytes: &[u8]) -> Result<Self, NodeDecodeError> {
        Ok(NodeView::parse(block, bytes)?.to_node())
    }
}

/// Writes the checksum of an image built by [`NodeView::leaf_with`],
/// [`NodeView::branch_with_child`] or [`Node::encode_unsealed`] as it is
/// stored at `block`: the image is then what [`Node::encode`] makes of the
/// same node. A [`block::SealFn`].
pub fn seal(block: u64, image: &mut [u8; NODE_SIZE]) {
    NODE_SEALS.fetch_add(1, Ordering::Relaxed);
    let sum = node_checksum(block, image);
    image[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
}

/// Encoded size of a leaf entry.
pub fn leaf_entry_size(e: &LeafEntry) -> usize {
    LEAF_ENTRY_OVERHEAD + e.key.len() + e.value.len()
}

/// Encoded size of a branch entry.
pub fn branch_entry_size(e: &BranchEntry) -> usize {
    BRANCH_ENTRY_OVERHEAD + e.key.len()
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
