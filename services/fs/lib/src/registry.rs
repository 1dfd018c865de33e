//! The OCI registry API (the power of seed 000's `StorageDriver`) over the
//! filesystem, in the reference registry's tree ([`crate::layout`]).
//!
//! # Atomicity
//! - A blob is streamed into `_uploads/<id>/data` over many transactions
//!   while it is hashed; at the end the digest is checked and, in one
//!   transaction, the data file is renamed to `blobs/.../data` and the
//!   upload directory removed. A reader sees no blob or the whole blob. On a
//!   digest mismatch the upload directory is removed and nothing is left in
//!   the tree (its chunks are garbage for the next GC).
//! - A manifest put (blob, revisions link, tag current and index links) is
//!   one transaction; so is a manifest delete.
//! - An upload in progress is a file in the live tree, so GC keeps its
//!   chunks (the reference registry's GC deletes them: distribution #3045).
//!
//! The operations live in `registry/`: `blobs.rs`, `uploads.rs`,
//! `manifests.rs` (with repository links), `catalog.rs` (tags, repositories).
//!
//! Deleting something missing is not an error (returns `false`). Every blob
//! read is verified: each chunk's BLAKE3 by the content store, and the
//! whole blob's digest at the end of the stream.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

use crate::chunks::{ChunkStore, Chunks};
use crate::digest::{DigestMismatch, Hasher, Verifier};
use crate::error::FsError;
use crate::fs::{components, Fs};
use crate::io::{read_full, Source};
use crate::layout;
use crate::link::{self, LinkError};
use crate::names::{Digest, DigestError, NameError, RepoName, Tag, TagError};
use crate::records::{Kind, ROOT_INO};
use crate::stream::{AppendStream, StreamError};

// The registry's operations, one room per concept (each an `impl Registry`).
mod blobs;
mod catalog;
mod manifests;
mod quotas;
mod uploads;

pub use blobs::BlobReader;

/// Largest manifest accepted (the reference's limit is 4 MiB).
pub const MANIFEST_MAX: u64 = 4 << 20;
/// Bytes per upload transaction by default.
pub const DEFAULT_PIECE: usize = 1 << 20;

/// Everything a registry call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    Name(NameError),
    Tag(TagError),
    Digest(DigestError),
    /// The bytes do not hash to the digest they came with.
    Mismatch(DigestMismatch),
    /// A stored blob no longer hashes to its name.
    CorruptBlob(DigestMismatch),
    BadLink {
        path: String,
        problem: LinkError,
    },
    ManifestTooLarge {
        len: u64,
        max: u64,
    },
    /// An upload id that is not in progress.
    NoSuchUpload {
        id: String,
    },
    Fs(FsError),
}

impl From<FsError> for RegistryError {
    fn from(e: FsError) -> Self {
        RegistryError::Fs(e)
    }
}
impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        RegistryError::Name(e)
    }
}
impl From<TagError> for RegistryError {
    fn from(e: TagError) -> Self {
        RegistryError::Tag(e)
    }
}
impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        RegistryError::Digest(e)
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Name(e) => write!(f, "{e}"),
            RegistryError::Tag(e) => write!(f, "{e}"),
            RegistryError::Digest(e) => write!(f, "{e}"),
            RegistryError::Mismatch(e) => write!(f, "{e}"),
            RegistryError::CorruptBlob(e) => write!(f, "stored blob is corrupt: {e}"),
            RegistryError::BadLink { path, problem } => write!(f, "{path}: {problem}"),
            RegistryError::ManifestTooLarge { len, max } => {
                write!(f, "manifest of {len} bytes exceeds {max}")
            }
            RegistryError::NoSuchUpload { id } => write!(f, "upload {id} is not in progress"),
            RegistryError::Fs(e) => write!(f, "{e}"),
        }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference with a `:` is a digest, otherwise a tag (tags cannot
    /// contain `:`).
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        if s.contains(':') {
            Ok(Reference::Digest(Digest::parse(s)?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

/// An upload in progress: `_uploads/<id>/data` plus the running hash and
/// the data file's open chunk stream (`crate::stream`: each byte chunked
/// and written once).
pub struct Upload {
    repo: Option<RepoName>,
    id: String,
    /// The hash of every byte the stream has pushed to its chunk writer
    /// (not of the bytes still gathered: `crate::stream`, "Overlap"); the
    /// finish's flush adds the rest.
    hasher: Hasher,
    pub(crate) stream: AppendStream,
}

impl Upload {
    /// An upload reopened from its `data` file (see `upload_session`).
    pub(crate) fn from_parts(
        repo: Option<RepoName>,
        id: String,
        ino: u64,
        hasher: Hasher,
        size: u64,
    ) -> Upload {
        Upload {
            repo,
            id,
            hasher,
            stream: AppendStream::new(ino, size),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    /// Bytes received (stored, or held by the open chunk stream).
    pub fn size(&self) -> u64 {
        self.stream.size()
    }
    /// The upload will hold `total` bytes in all (a blob session's
    /// announced length): its step buffer is taken once for them
    /// ([`AppendStream::expect`]). Only memory: no byte or limit changes.
    pub fn expect(&mut self, total: u64) {
        self.stream.expect(total.saturating_sub(self.size()));
    }
    /// Starts over from a rebuilt hash and stream (`upload_session`).
    pub(crate) fn reset(&mut self, hasher: Hasher, stream: AppendStream) {
        self.hasher = hasher;
        self.stream = stream;
    }

    /// The algorithm of the running hash.
    pub fn algorithm(&self) -> crate::names::Algorithm {
        self.hasher.algorithm()
    }
}

/// The registry over a mounted filesystem.
pub struct Registry<T: Transactional, C: Chunks<T> = ChunkStore> {
    fs: Fs<T, C>,
    piece: usize,
    /// While a stepped registry GC runs (`registry_gc`): every digest a
    /// manifest put or a repository link named since it started; its
    /// sweep keeps them.
    pub(crate) gc_touched: Option<(u64, alloc::collections::BTreeSet<Digest>)>,
    /// The id of the last stepped registry GC run started.
    pub(crate) gc_runs: u64,
}

pub(crate) fn is_not_found(e: &FsError) -> bool {
    matches!(e, FsError::NotFound { .. } | FsError::NotADirectory { .. })
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    pub fn new(fs: Fs<T, C>) -> Registry<T, C> {
        Registry {
            fs,
            piece: DEFAULT_PIECE,
            gc_touched: None,
            gc_runs: 0,
        }
    }

    /// Bytes per upload transaction (memory held while streaming a put).
    pub fn set_piece_size(&mut self, bytes: usize) {
        self.piece = bytes.max(4096);
    }

    pub fn fs(&mut self) -> &mut Fs<T, C> {
        &mut self.fs
    }

    pub fn into_fs(self) -> Fs<T, C> {
        self.fs
    }

    /// Notes `d` for a stepped registry GC in progress (if any).
    pub(crate) fn gc_touch(&mut self, d: &Digest) {
        if let Some((_, t)) = &mut self.gc_touched {
            t.insert(d.clone());
        }
    }
}
