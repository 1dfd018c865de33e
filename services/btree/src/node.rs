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

/// How many node images this program has checksummed so far (each
/// [`Node::encode`] and each verifying [`NodeView::parse`]).
pub fn node_checksums() -> u64 {
    NODE_CHECKSUMS.load(Ordering::Relaxed)
}

/// Checksum of a node image as it should be stored in `CHECKSUM`.
fn node_checksum(block: u64, image: &[u8; NODE_SIZE]) -> u32 {
    NODE_CHECKSUMS.fetch_add(1, Ordering::Relaxed);
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
        let sum = node_checksum(block, &out);
        out[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes and verifies the node stored at `block` into owned entries.
    /// Never panics, whatever the bytes.
    pub fn decode(block: u64, bytes: &[u8]) -> Result<Self, NodeDecodeError> {
        Ok(NodeView::parse(block, bytes)?.to_node())
    }
}

/// Where one entry's parts are in the image.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// Offset of the key; a branch's child pointer is the 8 bytes before it.
    key_at: u16,
    key_len: u8,
    /// Leaf only: the value follows the key.
    value_len: u16,
}

/// A node verified in place: the checks of [`Node::decode`] (checksum,
/// limits, key order, zero tail), with entries located but not copied.
/// Lookups use it to avoid allocating per entry.
pub struct NodeView<'a> {
    image: &'a [u8; NODE_SIZE],
    pub generation: u64,
    pub level: u8,
    spans: Vec<Span>,
}

/// A block of zeros to compare node tails against.
static ZEROS: [u8; NODE_SIZE] = [0; NODE_SIZE];

impl<'a> NodeView<'a> {
    /// Verifies the node stored at `block`. Never panics, whatever the bytes.
    pub fn parse(block: u64, bytes: &'a [u8]) -> Result<Self, NodeDecodeError> {
        Self::parse_checked(block, bytes, true)
    }

    /// Locates the entries of an image that [`NodeView::parse`] already
    /// verified as the node at `block` (a device's cache of verified nodes,
    /// [`block::Transactional::read_verified`]): the checksum, key order and
    /// zero tail are not checked again, every bound still is, so this never
    /// panics either.
    pub fn parse_verified(block: u64, bytes: &'a [u8]) -> Result<Self, NodeDecodeError> {
        Self::parse_checked(block, bytes, false)
    }

    fn parse_checked(block: u64, bytes: &'a [u8], verify: bool) -> Result<Self, NodeDecodeError> {
        let image: &[u8; NODE_SIZE] = bytes
            .try_into()
            .map_err(|_| NodeDecodeError::WrongSize { len: bytes.len() })?;
        let mut r = Reader {
            bytes: image,
            at: 0,
        };
        let magic = r.array::<4>().unwrap_or_default();
        if magic != MAGIC {
            return Err(NodeDecodeError::BadMagic { found: magic });
        }
        let stored = u32::from_le_bytes(r.array::<4>().unwrap_or_default());
        if verify {
            let computed = node_checksum(block, image);
            if stored != computed {
                return Err(NodeDecodeError::ChecksumMismatch { stored, computed });
            }
        }
        let generation = u64::from_le_bytes(r.array::<8>().unwrap_or_default());
        let level = r.u8().unwrap_or_default();
        if level > MAX_LEVEL {
            return Err(NodeDecodeError::LevelTooHigh { level });
        }
        if r.u8() != Some(0) {
            return Err(NodeDecodeError::ReservedNotZero {
                offset: OFF_RESERVED1,
            });
        }
        let count = usize::from(u16::from_le_bytes(r.array::<2>().unwrap_or_default()));
        let used = usize::from(u16::from_le_bytes(r.array::<2>().unwrap_or_default()));
        for offset in OFF_RESERVED2..HEADER_LEN {
            if r.u8() != Some(0) {
                return Err(NodeDecodeError::ReservedNotZero { offset });
            }
        }
        if used > CAPACITY {
            return Err(NodeDecodeError::UsedTooLarge { used });
        }
        let end = HEADER_LEN + used;
        let area = image
            .get(..end)
            .ok_or(NodeDecodeError::UsedTooLarge { used })?;
        let mut r = Reader {
            bytes: area,
            at: HEADER_LEN,
        };
        let leaf = level == 0;
        if !leaf && count == 0 {
            return Err(NodeDecodeError::EmptyBranch);
        }
        // Each entry takes at least its overhead, so `count` is bounded by
        // `used` before anything is allocated from it.
        let overhead = if leaf {
            LEAF_ENTRY_OVERHEAD
        } else {
            BRANCH_ENTRY_OVERHEAD
        };
        let mut spans: Vec<Span> = Vec::with_capacity(count.min(used / overhead));
        let mut prev: Option<&[u8]> = None;
        for index in 0..count {
            let offset = r.at;
            let overrun = NodeDecodeError::EntryOverrun { index, offset };
            let key_len = r.u8().ok_or(overrun.clone())?;
            let value_len = if leaf {
                let len = u16::from_le_bytes(r.array::<2>().ok_or(overrun.clone())?);
                if usize::from(len) > MAX_VALUE_LEN {
                    return Err(NodeDecodeError::ValueTooLong {
                        index,
                        len: usize::from(len),
                    });
                }
                len
            } else {
                r.array::<8>().ok_or(overrun.clone())?;
                0
            };
            let key_at = r.at as u16;
            let key = r.take(usize::from(key_len)).ok_or(overrun.clone())?;
            r.take(usize::from(value_len)).ok_or(overrun)?;
            if !leaf && index == 0 && !key.is_empty() {
                return Err(NodeDecodeError::FirstBranchKeyNotEmpty {
                    len: usize::from(key_len),
                });
            }
            if verify && prev.is_some_and(|p| p >= key) {
                return Err(NodeDecodeError::KeysOutOfOrder { index });
            }
            prev = Some(key);
            spans.push(Span {
                key_at,
                key_len,
                value_len,
            });
        }
        if r.at != end {
            return Err(NodeDecodeError::CountMismatch {
                count,
                used,
                consumed: r.at - HEADER_LEN,
            });
        }
        // Bytes past the entries must be zero: the encoder writes them so, and
        // anything else means the node was not written by us.
        let tail = image.get(end..).unwrap_or_default();
        if verify && tail != ZEROS.get(..tail.len()).unwrap_or_default() {
            let at = tail.iter().position(|&b| b != 0).unwrap_or(0);
            return Err(NodeDecodeError::ReservedNotZero { offset: end + at });
        }
        Ok(NodeView {
            image,
            generation,
            level,
            spans,
        })
    }

    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn bytes(&self, at: usize, len: usize) -> &'a [u8] {
        // Spans were bounds-checked by `parse`.
        self.image.get(at..at + len).unwrap_or_default()
    }

    /// Key of entry `i` (`i < len()`).
    pub fn key(&self, i: usize) -> &'a [u8] {
        let s = self.spans[i];
        self.bytes(usize::from(s.key_at), usize::from(s.key_len))
    }

    /// Value of leaf entry `i` (`i < len()`).
    pub fn value(&self, i: usize) -> &'a [u8] {
        let s = self.spans[i];
        self.bytes(
            usize::from(s.key_at) + usize::from(s.key_len),
            usize::from(s.value_len),
        )
    }

    /// Child of branch entry `i` (`i < len()`).
    pub fn child(&self, i: usize) -> u64 {
        let at = usize::from(self.spans[i].key_at) - 8;
        u64::from_le_bytes(self.bytes(at, 8).try_into().unwrap_or_default())
    }

    /// Number of entries whose key is <= `key` (leaf or branch).
    pub fn count_at_or_below(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes of entries (the header's `USED`).
    fn used(&self) -> usize {
        self.spans.last().map_or(HEADER_LEN, |s| {
            usize::from(s.key_at) + usize::from(s.key_len) + usize::from(s.value_len)
        }) - HEADER_LEN
    }

    /// Where entry `i` starts (its length byte); the end of the entries
    /// for `i == len()`.
    fn entry_start(&self, i: usize) -> usize {
        let overhead = if self.is_leaf() {
            LEAF_ENTRY_OVERHEAD
        } else {
            BRANCH_ENTRY_OVERHEAD
        };
        self.spans.get(i).map_or(HEADER_LEN + self.used(), |s| {
            usize::from(s.key_at) - overhead
        })
    }

    /// This leaf's image with `key` = `value` put at entry `i` (replacing
    /// entry `i` when `replace`, else inserted before it), stamped with
    /// `generation`, to be [`seal`]ed; `None` when it would not fit (the
    /// caller splits through [`Node`]). The bytes around the entry are
    /// copied as they are: a change costs no allocation per entry, where
    /// decoding into a [`Node`] and encoding again allocates two per entry
    /// (issue #13). The caller keeps `i` in `0..=len()` (`< len()` when
    /// replacing) and the key order.
    pub fn leaf_with(
        &self,
        i: usize,
        replace: bool,
        key: &[u8],
        value: &[u8],
        generation: u64,
    ) -> Option<[u8; NODE_SIZE]> {
        if !self.is_leaf() || i > self.len() || (replace && i >= self.len()) {
            return None;
        }
        let start = self.entry_start(i);
        let end = if replace {
            self.entry_start(i + 1)
        } else {
            start
        };
        let old_end = HEADER_LEN + self.used();
        let added = LEAF_ENTRY_OVERHEAD + key.len() + value.len();
        let used = self.used() - (end - start) + added;
        if used > CAPACITY || key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
            return None;
        }
        let count = self.len() + usize::from(!replace);
        let mut out = [0u8; NODE_SIZE];
        out[..start].copy_from_slice(&self.image[..start]);
        let mut at = start;
        out[at] = key.len() as u8;
        out[at + 1..at + 3].copy_from_slice(&(value.len() as u16).to_le_bytes());
        at += LEAF_ENTRY_OVERHEAD;
        out[at..at + key.len()].copy_from_slice(key);
        at += key.len();
        out[at..at + value.len()].copy_from_slice(value);
        at += value.len();
        out[at..at + (old_end - end)].copy_from_slice(&self.image[end..old_end]);
        stamp(&mut out, generation, count, used);
        Some(out)
    }

    /// This branch's image with child `i` (`< len()`) pointing at `child`,
    /// stamped with `generation`, to be [`seal`]ed.
    pub fn branch_with_child(&self, i: usize, child: u64, generation: u64) -> [u8; NODE_SIZE] {
        let mut out = *self.image;
        if let Some(s) = self.spans.get(i).filter(|_| !self.is_leaf()) {
            let at = usize::from(s.key_at) - 8;
            out[at..at + 8].copy_from_slice(&child.to_le_bytes());
        }
        stamp(&mut out, generation, self.len(), self.used());
        out
    }

    /// Copies the entries out.
    pub fn to_node(&self) -> Node {
        let n = self.len();
        let entries = if self.is_leaf() {
            Entries::Leaf(
                (0..n)
                    .map(|i| LeafEntry {
                        key: self.key(i).to_vec(),
                        value: self.value(i).to_vec(),
                    })
                    .collect(),
            )
        } else {
            Entries::Branch(
                (0..n)
                    .map(|i| BranchEntry {
                        key: self.key(i).to_vec(),
                        child: self.child(i),
                    })
                    .collect(),
            )
        };
        Node {
            generation: self.generation,
            level: self.level,
            entries,
        }
    }
}

/// Writes the header fields a change moves (the magic and level stay).
fn stamp(out: &mut [u8; NODE_SIZE], generation: u64, count: usize, used: usize) {
    out[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&generation.to_le_bytes());
    out[OFF_COUNT..OFF_COUNT + 2].copy_from_slice(&(count as u16).to_le_bytes());
    out[OFF_USED..OFF_USED + 2].copy_from_slice(&(used as u16).to_le_bytes());
}

/// Writes the checksum of an image built by [`NodeView::leaf_with`] or
/// [`NodeView::branch_with_child`] as it is stored at `block`: the image
/// is then what [`Node::encode`] makes of the same node.
pub fn seal(block: u64, image: &mut [u8; NODE_SIZE]) {
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

/// Bounds-checked cursor over bytes from the disk.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|s| s.first().copied())
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
