//! The content service's typed error, [`ContentError`]: every failure of
//! the store or of a request, with its values, in the reply that answers
//! the call (code in the label, values in the words; see `abi::iface`).
//!
//! The store's own errors nest lower layers' errors (`block::Error`,
//! `cowbtree::TreeError`); they cross as small flat values here:
//! [`BlockFault`] (the block service's own codec, `block_api`),
//! [`TreeFault`], [`IndexProblem`], [`RootProblem`], [`Hash`]. What does not
//! fit six words is left out and said so: a corrupt chunk's computed hash,
//! a corrupt tree node's decoding detail (`fsck` reports both in full).

use core::fmt;

use abi::iface::Words;
use content::{ContentRootDecodeError, GcError, GetError, IndexEntryDecodeError, PutError};
use cowbtree::TreeError;

use crate::FrameError;

/// A chunk's BLAKE3 hash; shown in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash(pub [u8; 32]);

impl Words for Hash {
    const COUNT: usize = 4;
    fn put(&self, out: &mut [u64]) {
        self.0.put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        <[u8; 32]>::take(words).map(Hash)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", content::Hex(&self.0))
    }
}

/// A `block::Error`, through the block service's error codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockFault(pub block::Error);

impl Words for BlockFault {
    const COUNT: usize = 5;
    fn put(&self, out: &mut [u64]) {
        let (code, w) = block_api::encode_error(&self.0);
        out[0] = code;
        out[1..5].copy_from_slice(&w);
    }
    fn take(words: &[u64]) -> Option<Self> {
        let w: [u64; 4] = words.get(1..5)?.try_into().ok()?;
        Some(BlockFault(block_api::decode_error(*words.first()?, w)))
    }
}

impl fmt::Display for BlockFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A chunk-index tree error other than a block error: `kind` (1 corrupt
/// node, 2 node at the wrong level, 3 key too long, 4 value too long, 5 too
/// deep, 6 generation counter exhausted), the node's block, two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeFault {
    pub kind: u64,
    pub block: u64,
    pub a: u64,
    pub b: u64,
}

impl TreeFault {
    fn of(e: &TreeError) -> TreeFault {
        let (kind, block, a, b) = match *e {
            TreeError::Corrupt { block, .. } => (1, block, 0, 0),
            TreeError::WrongLevel {
                block,
                expected,
                found,
            } => (2, block, u64::from(expected), u64::from(found)),
            TreeError::KeyTooLong { len } => (3, 0, len as u64, 0),
            TreeError::ValueTooLong { len } => (4, 0, len as u64, 0),
            TreeError::TooDeep { height } => (5, 0, u64::from(height), 0),
            TreeError::GenerationOverflow | TreeError::Block(_) => (6, 0, 0, 0),
        };
        TreeFault { kind, block, a, b }
    }
}

abi::words! {
    /// The words of a [`TreeFault`].
    struct TreeFaultWords { kind: u64, block: u64, a: u64, b: u64 }
}

impl Words for TreeFault {
    const COUNT: usize = 4;
    fn put(&self, out: &mut [u64]) {
        let TreeFault { kind, block, a, b } = *self;
        TreeFaultWords { kind, block, a, b }.put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        let TreeFaultWords { kind, block, a, b } = TreeFaultWords::take(words)?;
        Some(TreeFault { kind, block, a, b })
    }
}

impl fmt::Display for TreeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TreeFault { block, a, b, .. } = *self;
        match self.kind {
            1 => write!(f, "the chunk index node at block {block} is corrupt"),
            2 => write!(
                f,
                "the chunk index node at block {block} is at level {b}, expected {a}"
            ),
            3 => write!(f, "a chunk index key of {a} bytes is too long"),
            4 => write!(f, "a chunk index value of {a} bytes is too long"),
            5 => write!(f, "the chunk index would grow deeper than {a} levels"),
            _ => write!(f, "the chunk index's generation counter is exhausted"),
        }
    }
}

/// What is wrong with a chunk index entry (none: its key is not a hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexProblem(pub Option<IndexEntryDecodeError>);

impl Words for IndexProblem {
    const COUNT: usize = 2;
    fn put(&self, out: &mut [u64]) {
        let (kind, value) = match &self.0 {
            None => (0, 0),
            Some(IndexEntryDecodeError::WrongSize { len }) => (1, *len as u64),
            Some(IndexEntryDecodeError::BadLength { len }) => (2, u64::from(*len)),
            Some(IndexEntryDecodeError::UnknownFlags { flags }) => (3, u64::from(*flags)),
            Some(IndexEntryDecodeError::ExtentOverflows { start }) => (4, *start),
        };
        out[0] = kind;
        out[1] = value;
    }
    fn take(words: &[u64]) -> Option<Self> {
        let v = *words.get(1)?;
        let small = u32::try_from(v).ok();
        Some(IndexProblem(match *words.first()? {
            0 => None,
            1 => Some(IndexEntryDecodeError::WrongSize {
                len: usize::try_from(v).ok()?,
            }),
            2 => Some(IndexEntryDecodeError::BadLength { len: small? }),
            3 => Some(IndexEntryDecodeError::UnknownFlags { flags: small? }),
            4 => Some(IndexEntryDecodeError::ExtentOverflows { start: v }),
            _ => return None,
        }))
    }
}

impl fmt::Display for IndexProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("its key is not a 32-byte hash"),
        }
    }
}

/// Why the root a request brought does not decode: `kind` (1 wrong size,
/// 2 bad magic, 3 checksum mismatch, 4 reserved bytes set, 5 bad index
/// root) and two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootProblem {
    pub kind: u64,
    pub a: u64,
    pub b: u64,
}

impl RootProblem {
    pub fn of(e: &ContentRootDecodeError) -> RootProblem {
        let (kind, a, b) = match *e {
            ContentRootDecodeError::WrongSize { len } => (1, len as u64, 0),
            ContentRootDecodeError::BadMagic { found } => {
                (2, u64::from(u32::from_le_bytes(found)), 0)
            }
            ContentRootDecodeError::ChecksumMismatch { stored, computed } => {
                (3, u64::from(stored), u64::from(computed))
            }
            ContentRootDecodeError::ReservedNotZero => (4, 0, 0),
            ContentRootDecodeError::Index(_) => (5, 0, 0),
        };
        RootProblem { kind, a, b }
    }
}

abi::words! {
    /// The words of a [`RootProblem`].
    struct RootProblemWords { kind: u64, a: u64, b: u64 }
}

impl Words for RootProblem {
    const COUNT: usize = 3;
    fn put(&self, out: &mut [u64]) {
        let RootProblem { kind, a, b } = *self;
        RootProblemWords { kind, a, b }.put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        let RootProblemWords { kind, a, b } = RootProblemWords::take(words)?;
        Some(RootProblem { kind, a, b })
    }
}

impl fmt::Display for RootProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RootProblem { a, b, .. } = *self;
        match self.kind {
            1 => write!(f, "it is {a} bytes, expected {}", crate::ROOT_LEN),
            2 => write!(f, "bad magic {a:#010x}"),
            3 => write!(f, "checksum mismatch: stored {a:#010x}, computed {b:#010x}"),
            4 => f.write_str("its reserved bytes are not zero"),
            _ => f.write_str("its chunk index root is invalid"),
        }
    }
}

abi::errors! {
    /// Everything a content-service call can fail with, with the values
    /// seen, in plain words.
    pub enum ContentError {
        EmptyChunk = 1 {} => "a chunk cannot be empty",
        ChunkTooLarge = 2 { len: u64 }
            => "a chunk of {len} bytes is larger than the largest chunk",
        IndexEntryCorrupt = 3 { hash: Hash, problem: IndexProblem }
            => "the index entry of chunk {hash} is corrupt: {problem} (run fsck)",
        NotFound = 4 { hash: Hash } => "chunk {hash} is not stored (run fsck)",
        LengthMismatch = 5 { hash: Hash, indexed: u32, referenced: u32 }
            => "chunk {hash} is {indexed} bytes in the index but {referenced} in the file's reference (run fsck)",
        ChunkCorrupt = 6 { hash: Hash, block: u64 }
            => "chunk {hash} at block {block} is corrupt: its bytes do not hash to its name (run fsck)",
        OffsetPastEnd = 7 { offset: u64, len: u64 }
            => "offset {offset} is past the object's {len} bytes",
        IndexKeyCorrupt = 8 { key_len: u64, problem: IndexProblem }
            => "a chunk index entry (key of {key_len} bytes) is corrupt: {problem} (run fsck)",
        MarksWrongSize = 9 { marks_blocks: u64, store_blocks: u64 }
            => "the collection's marks cover {marks_blocks} blocks but the store has {store_blocks}",
        EpochOverflow = 10 {} => "the collection epoch counter is exhausted",
        Index = 11 { fault: TreeFault } => "{fault} (run fsck)",
        Block = 12 { fault: BlockFault } => "{fault}",
        BadFrame = 13 { problem: FrameError } => "the request's frame is invalid: {problem}",
        BadRoot = 14 { problem: RootProblem } => "the store's root is invalid: {problem}",
        NoWriter = 15 { writer: u64 }
            => "no chunk writer {writer} is open (never started, finished, or dropped after an error)",
        NoCollection = 16 {} => "no collection started (a mark or sweep without gc_start)",
        WrongBlockCount = 17 { asked: u64, has: u64 }
            => "a collection over {asked} blocks was asked, the store has {has}",
        LeaseCopy = 18 { lease: u64, kernel: u64 }
            => "the caller's buffer {lease} could not be copied (kernel error {kernel})",
        NoBlockService = 19 {} => "the content service cannot reach the block service",
        TooManyWriters = 20 { max: u64 }
            => "this client already has {max} chunk writers open (uploads in progress); finish or abort one",
        NoCheck = 25 {} => "no check started (a check page or end without a fresh first page)",
    }
}

impl ContentError {
    /// The code of `ContentError::Block` (a client tells a failing disk
    /// from a corrupt chunk by it).
    pub const BLOCK_CODE: u64 = 12;

    /// A block error, through the block service's codec.
    pub fn block(e: block::Error) -> ContentError {
        ContentError::Block {
            fault: BlockFault(e),
        }
    }

    /// A lease copy the kernel refused.
    pub fn lease(index: u64, e: abi::Error) -> ContentError {
        ContentError::LeaseCopy {
            lease: index,
            kernel: e as u64,
        }
    }

    fn tree(e: TreeError) -> ContentError {
        match e {
            TreeError::Block(b) => ContentError::block(b),
            e => ContentError::Index {
                fault: TreeFault::of(&e),
            },
        }
    }
}

impl From<PutError> for ContentError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Empty => ContentError::EmptyChunk {},
            PutError::TooLarge { len } => ContentError::ChunkTooLarge { len: len as u64 },
            PutError::CorruptIndex { hash, problem } => ContentError::IndexEntryCorrupt {
                hash: Hash(hash),
                problem: IndexProblem(Some(problem)),
            },
            PutError::Tree(t) => ContentError::tree(t),
            PutError::Block(b) => ContentError::block(b),
        }
    }
}

impl From<GetError> for ContentError {
    fn from(e: GetError) -> Self {
        match e {
            GetError::NotFound { hash } => ContentError::NotFound { hash: Hash(hash) },
            GetError::LengthMismatch {
                hash,
                indexed,
                referenced,
            } => ContentError::LengthMismatch {
                hash: Hash(hash),
                indexed,
                referenced,
            },
            GetError::ChunkCorrupt { hash, block, .. } => ContentError::ChunkCorrupt {
                hash: Hash(hash),
                block,
            },
            GetError::CorruptIndex { hash, problem } => ContentError::IndexEntryCorrupt {
                hash: Hash(hash),
                problem: IndexProblem(Some(problem)),
            },
            GetError::OffsetPastEnd { offset, len } => ContentError::OffsetPastEnd { offset, len },
            GetError::Tree(t) => ContentError::tree(t),
            GetError::Block(b) => ContentError::block(b),
        }
    }
}

impl From<GcError> for ContentError {
    fn from(e: GcError) -> Self {
        match e {
            GcError::CorruptIndex { key_len, problem } => ContentError::IndexKeyCorrupt {
                key_len: key_len as u64,
                problem: IndexProblem(problem),
            },
            GcError::MarksWrongSize {
                marks_blocks,
                store_blocks,
            } => ContentError::MarksWrongSize {
                marks_blocks,
                store_blocks,
            },
            GcError::EpochOverflow => ContentError::EpochOverflow {},
            GcError::Tree(t) => ContentError::tree(t),
            GcError::Block(b) => ContentError::block(b),
        }
    }
}

impl From<content::Error> for ContentError {
    fn from(e: content::Error) -> Self {
        match e {
            content::Error::Put(e) => e.into(),
            content::Error::Get(e) => e.into(),
            content::Error::Gc(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod block_code_tests {
    use super::*;
    use abi::iface::ServiceError;

    #[test]
    fn block_code_is_the_block_variants_code() {
        let e = ContentError::block(block::Error::NoSpace);
        assert_eq!(e.code(), ContentError::BLOCK_CODE);
    }
}
