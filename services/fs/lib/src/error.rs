//! The filesystem's error type. Each variant names the values seen.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::io::SourceError;
use crate::records::RecordError;
use crate::root::RootError;

/// Everything a filesystem, snapshot, GC or fsck operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// The block layer failed (I/O, no space, corruption it detected).
    Block(block::Error),
    /// A tree operation failed (corrupt node, key too long...).
    Tree(cowbtree::TreeError),
    /// The content store failed (missing chunk, checksum mismatch...).
    Content(content::Error),
    InvalidPath {
        path: String,
        reason: &'static str,
    },
    NameTooLong {
        name: String,
        max: usize,
    },
    NotFound {
        path: String,
    },
    AlreadyExists {
        path: String,
    },
    NotADirectory {
        path: String,
    },
    IsADirectory {
        path: String,
    },
    DirectoryNotEmpty {
        path: String,
    },
    /// A directory cannot move below itself.
    InvalidRename {
        from: String,
        to: String,
    },
    FileTooLarge {
        path: String,
        size: u64,
        max: u64,
    },
    /// The tree contradicts its invariants.
    Corrupt {
        what: &'static str,
        ino: u64,
    },
    BadRecord {
        ino: u64,
        problem: RecordError,
    },
    BadRootBlock(RootError),
    /// The root slot is blank but the store has data blocks in use.
    RootLost {
        slot: usize,
        allocated_block: u64,
    },
    BadTreeRoot {
        which: &'static str,
        problem: cowbtree::RootDecodeError,
    },
    BadContentRoot(content::ContentRootDecodeError),
    /// A request announced more bytes than the per-request limit.
    RequestTooLarge {
        what: &'static str,
        len: u64,
        limit: u64,
    },
    /// A request announced more bytes than the disk has free.
    NoRoom {
        what: &'static str,
        len: u64,
        free: u64,
    },
    /// The write would take `target` ("repository a/b", "directory /x")
    /// to `would` bytes, past its quota of `limit` ([`crate::quota`]).
    QuotaExceeded {
        target: crate::quota::QuotaTarget,
        would: u64,
        limit: u64,
    },
    /// A new quota past the most one filesystem holds.
    TooManyQuotas {
        max: usize,
    },
    /// The content store handed back a root that fails its checks
    /// ([`crate::received`]); nothing was stored.
    ContentRootRejected {
        problem: String,
    },
    /// The content store handed back bytes that are not chunk `hash`.
    ChunkRejected {
        hash: [u8; 32],
        problem: String,
    },
    /// A content store used before it was formatted or loaded (a bug of
    /// the caller of [`crate::Fs::open_with`]).
    ContentNotLoaded,
    /// The content service refused a request: `code` is its status,
    /// `message` its error with the values it saw.
    ContentService {
        code: u64,
        message: String,
    },
    /// The content service could not be reached (it died, or the
    /// capability is wrong): `code` is the kernel's error code.
    ContentUnreachable {
        code: u64,
    },
    SnapshotNotFound {
        name: String,
    },
    SnapshotExists {
        name: String,
    },
    BadSnapshotName {
        name: String,
        reason: &'static str,
    },
    Source(SourceError),
    /// A file's chunk failed its read or its BLAKE3 check: `offset` is the
    /// chunk's first byte in the file, `len` its length, `problem` why.
    /// Every byte before `offset` was returned verified.
    ChunkUnreadable {
        ino: u64,
        offset: u64,
        len: u32,
        problem: Box<FsError>,
    },
    /// A put session's staging file is gone: the live tree was restored
    /// from a snapshot (or the session was finished or aborted) meanwhile.
    PutAbandoned {
        path: String,
    },
}

impl From<block::Error> for FsError {
    fn from(e: block::Error) -> Self {
        FsError::Block(e)
    }
}

impl From<cowbtree::TreeError> for FsError {
    fn from(e: cowbtree::TreeError) -> Self {
        match e {
            // Keep block errors (NoSpace...) recognisable at the top.
            cowbtree::TreeError::Block(b) => FsError::Block(b),
            e => FsError::Tree(e),
        }
    }
}

impl From<content::Error> for FsError {
    fn from(e: content::Error) -> Self {
        FsError::Content(e)
    }
}

impl From<content::PutError> for FsError {
    fn from(e: content::PutError) -> Self {
        FsError::Content(e.into())
    }
}

impl From<content::GetError> for FsError {
    fn from(e: content::GetError) -> Self {
        FsError::Content(e.into())
    }
}

impl From<content::GcError> for FsError {
    fn from(e: content::GcError) -> Self {
        FsError::Content(e.into())
    }
}

impl From<SourceError> for FsError {
    fn from(e: SourceError) -> Self {
        FsError::Source(e)
    }
}

impl FsError {
    /// The block layer's error inside this one, directly or via the content store.
    pub fn block_error(&self) -> Option<&block::Error> {
        match self {
            FsError::Block(e)
            | FsError::Content(content::Error::Put(content::PutError::Block(e)))
            | FsError::Content(content::Error::Get(content::GetError::Block(e)))
            | FsError::Content(content::Error::Gc(content::GcError::Block(e))) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A failing disk is told in the block layer's own plain sentence
        // ("the disk failed a write at block 95; the store is read-only ...").
        if let Some(e @ (block::Error::ReadOnly(_) | block::Error::Device(_))) = self.block_error()
        {
            return write!(f, "{e}");
        }
        match self {
            FsError::Block(e) => write!(f, "block layer: {e:?}"),
            FsError::Tree(e) => write!(f, "tree: {e}"),
            FsError::Content(e) => write!(f, "content store: {e}"),
            FsError::InvalidPath { path, reason } => write!(f, "invalid path {path:?}: {reason}"),
            FsError::NameTooLong { name, max } => {
                write!(f, "name of {} bytes exceeds {max}: {name:?}", name.len())
            }
            FsError::NotFound { path } => write!(f, "{path}: not found"),
            FsError::AlreadyExists { path } => write!(f, "{path}: already exists"),
            FsError::NotADirectory { path } => write!(f, "{path}: not a directory"),
            FsError::IsADirectory { path } => write!(f, "{path}: is a directory"),
            FsError::DirectoryNotEmpty { path } => write!(f, "{path}: directory not empty"),
            FsError::InvalidRename { from, to } => {
                write!(f, "cannot move {from} into its own subtree {to}")
            }
            FsError::FileTooLarge { path, size, max } => {
                write!(f, "{path}: size {size} exceeds {max}")
            }
            FsError::Corrupt { what, ino } => {
                write!(f, "corrupt filesystem at inode {ino}: {what}")
            }
            FsError::BadRecord { ino, problem } => write!(f, "inode {ino}: {problem}"),
            FsError::BadRootBlock(e) => write!(f, "{e}"),
            FsError::RootLost { slot, allocated_block } => write!(
                f,
                "root slot {slot} is blank but block {allocated_block} is in use: refusing to format over data"
            ),
            FsError::BadTreeRoot { which, problem } => write!(f, "{which} root: {problem}"),
            FsError::BadContentRoot(e) => write!(f, "{e}"),
            FsError::RequestTooLarge { what, len, limit } => write!(
                f,
                "{what} of {len} bytes refused: the limit per request is {limit} bytes"
            ),
            FsError::NoRoom { what, len, free } => write!(
                f,
                "{what} of {len} bytes refused: only {free} bytes are free"
            ),
            FsError::QuotaExceeded {
                target,
                would,
                limit,
            } => write!(
                f,
                "quota exceeded: {target} would store {} of its {} limit",
                block::ByteSize(*would),
                block::ByteSize(*limit)
            ),
            FsError::TooManyQuotas { max } => {
                write!(f, "too many quotas: at most {max} can be set")
            }
            FsError::ContentRootRejected { problem } => write!(
                f,
                "the content store handed back a bad root, not stored: {problem}"
            ),
            FsError::ChunkRejected { hash, problem } => write!(
                f,
                "the content store handed back a bad chunk {}: {problem}",
                content::Hex(hash)
            ),
            FsError::ContentNotLoaded => write!(f, "content store used before it was loaded"),
            FsError::ContentService { code, message } => {
                write!(f, "content service (status {code}): {message}")
            }
            FsError::ContentUnreachable { code } => {
                write!(f, "content service unreachable (kernel error {code})")
            }
            FsError::SnapshotNotFound { name } => write!(f, "snapshot {name:?} not found"),
            FsError::SnapshotExists { name } => write!(f, "snapshot {name:?} already exists"),
            FsError::BadSnapshotName { name, reason } => {
                write!(f, "snapshot name {name:?}: {reason}")
            }
            FsError::Source(e) => write!(f, "{e}"),
            FsError::ChunkUnreadable {
                ino,
                offset,
                len,
                problem,
            } => {
                // A failing disk is not a corrupt chunk: its sentence first
                // ("the disk failed a request at block N ..."), then where.
                let disk = matches!(
                    &**problem,
                    FsError::Block(block::Error::Device(_) | block::Error::ReadOnly(_))
                );
                if disk {
                    return write!(
                        f,
                        "{problem} (reading the chunk at offset {offset}, {len} bytes, of inode {ino})"
                    );
                }
                let what = match **problem {
                    FsError::Block(_) | FsError::ContentUnreachable { .. } => "cannot be read",
                    _ => "is corrupt",
                };
                write!(
                    f,
                    "chunk at offset {offset} ({len} bytes) of inode {ino} {what} ({problem})"
                )
            }
            FsError::PutAbandoned { path } => write!(
                f,
                "put of {path} abandoned: its staging file is gone (the live tree was restored from a snapshot meanwhile)"
            ),
        }
    }
}
