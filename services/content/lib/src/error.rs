//! Errors: one enum per operation, and [`Error`] that any of them converts
//! into. Every variant names the chunk (hash in hex) and block involved.

use core::fmt;

use cowbtree::TreeError;

use crate::chunk_ref::Hex;
use crate::index_entry::IndexEntryDecodeError;

/// Errors of `put_chunk` and `ChunkWriter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutError {
    /// Chunks are never empty (an empty object has no chunks).
    Empty,
    TooLarge {
        len: usize,
    },
    /// The index holds a value that is not a valid entry for `hash`.
    CorruptIndex {
        hash: [u8; 32],
        problem: IndexEntryDecodeError,
    },
    Tree(TreeError),
    Block(block::Error),
}

/// Errors of reads (`read_chunk`, `ObjectReader`) and of `mark`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetError {
    /// No chunk with this hash is stored.
    NotFound {
        hash: [u8; 32],
    },
    /// The reference and the index disagree on the chunk's length.
    LengthMismatch {
        hash: [u8; 32],
        indexed: u32,
        referenced: u32,
    },
    /// The bytes on the device do not hash to the chunk's name.
    ChunkCorrupt {
        hash: [u8; 32],
        block: u64,
        computed: [u8; 32],
    },
    CorruptIndex {
        hash: [u8; 32],
        problem: IndexEntryDecodeError,
    },
    /// `read_at` past the end of the object.
    OffsetPastEnd {
        offset: u64,
        len: u64,
    },
    Tree(TreeError),
    Block(block::Error),
}

/// Errors of the GC sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcError {
    CorruptIndex {
        key_len: usize,
        problem: Option<IndexEntryDecodeError>,
    },
    /// The marks were made for a different store size.
    MarksWrongSize {
        marks_blocks: u64,
        store_blocks: u64,
    },
    EpochOverflow,
    Tree(TreeError),
    Block(block::Error),
}

/// Any error of this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Put(PutError),
    Get(GetError),
    Gc(GcError),
}

macro_rules! from_lower {
    ($($t:ident),*) => {$(
        impl From<TreeError> for $t {
            fn from(e: TreeError) -> Self {
                match e {
                    TreeError::Block(b) => $t::Block(b),
                    other => $t::Tree(other),
                }
            }
        }
        impl From<block::Error> for $t {
            fn from(e: block::Error) -> Self {
                $t::Block(e)
            }
        }
    )*};
}
from_lower!(PutError, GetError, GcError);

impl From<PutError> for Error {
    fn from(e: PutError) -> Self {
        Error::Put(e)
    }
}
impl From<GetError> for Error {
    fn from(e: GetError) -> Self {
        Error::Get(e)
    }
}
impl From<GcError> for Error {
    fn from(e: GcError) -> Self {
        Error::Gc(e)
    }
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty chunk"),
            Self::TooLarge { len } => {
                write!(f, "chunk of {len} bytes exceeds {}", crate::MAX_CHUNK)
            }
            Self::CorruptIndex { hash, problem } => {
                write!(
                    f,
                    "index entry of chunk {} is corrupt: {problem}",
                    Hex(hash)
                )
            }
            Self::Tree(e) => write!(f, "chunk index: {e}"),
            Self::Block(e) => write!(f, "block layer: {e:?}"),
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { hash } => write!(f, "chunk {} is not stored", Hex(hash)),
            Self::LengthMismatch {
                hash,
                indexed,
                referenced,
            } => write!(
                f,
                "chunk {} is {indexed} bytes in the index but {referenced} in the reference",
                Hex(hash)
            ),
            Self::ChunkCorrupt {
                hash,
                block,
                computed,
            } => write!(
                f,
                "chunk {} at block {block} is corrupt: its bytes hash to {}",
                Hex(hash),
                Hex(computed)
            ),
            Self::CorruptIndex { hash, problem } => {
                write!(
                    f,
                    "index entry of chunk {} is corrupt: {problem}",
                    Hex(hash)
                )
            }
            Self::OffsetPastEnd { offset, len } => {
                write!(f, "offset {offset} is past the object's {len} bytes")
            }
            Self::Tree(e) => write!(f, "chunk index: {e}"),
            Self::Block(e) => write!(f, "block layer: {e:?}"),
        }
    }
}

impl fmt::Display for GcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CorruptIndex {
                key_len,
                problem: Some(p),
            } => {
                write!(
                    f,
                    "chunk index entry (key of {key_len} bytes) is corrupt: {p}"
                )
            }
            Self::CorruptIndex {
                key_len,
                problem: None,
            } => {
                write!(
                    f,
                    "chunk index key of {key_len} bytes is not a 32-byte hash"
                )
            }
            Self::MarksWrongSize {
                marks_blocks,
                store_blocks,
            } => {
                write!(
                    f,
                    "marks cover {marks_blocks} blocks but the store has {store_blocks}"
                )
            }
            Self::EpochOverflow => write!(f, "GC epoch counter exhausted"),
            Self::Tree(e) => write!(f, "chunk index: {e}"),
            Self::Block(e) => write!(f, "block layer: {e:?}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Put(e) => e.fmt(f),
            Self::Get(e) => e.fmt(f),
            Self::Gc(e) => e.fmt(f),
        }
    }
}
