//! Library errors as reply statuses (`fs_api::status`) with their message.

use alloc::format;
use alloc::string::{String, ToString};

use filesystem::{FsError, RegistryError};
use fs_api::status;

/// A failed request: the status for the reply label and the message the
/// client fetches with `LastText`.
pub struct Fail {
    pub status: u64,
    pub text: String,
}

impl Fail {
    pub fn new(status: u64, text: impl Into<String>) -> Fail {
        Fail {
            status,
            text: text.into(),
        }
    }
}

pub fn fs_status(e: &FsError) -> u64 {
    match e {
        FsError::NotFound { .. } | FsError::SnapshotNotFound { .. } => status::NOT_FOUND,
        FsError::AlreadyExists { .. } | FsError::SnapshotExists { .. } => status::EXISTS,
        FsError::NotADirectory { .. } => status::NOT_A_DIRECTORY,
        FsError::IsADirectory { .. } => status::IS_A_DIRECTORY,
        FsError::DirectoryNotEmpty { .. } => status::NOT_EMPTY,
        FsError::InvalidPath { .. }
        | FsError::NameTooLong { .. }
        | FsError::InvalidRename { .. }
        | FsError::BadSnapshotName { .. } => status::INVALID,
        FsError::FileTooLarge { .. } | FsError::RequestTooLarge { .. } => status::TOO_LARGE,
        FsError::NoRoom { .. } => status::NO_SPACE,
        FsError::Block(block::Error::NoSpace) => status::NO_SPACE,
        FsError::Block(block::Error::Corrupt { .. }) => status::CORRUPT,
        FsError::Block(_) => status::IO,
        // The content service's own failures (its text names the values).
        FsError::ContentService { .. } | FsError::ContentUnreachable { .. } => status::IO,
        FsError::ContentNotLoaded => status::IO,
        FsError::Source(_) => status::BAD_LEASE,
        FsError::ChunkUnreadable { problem, .. } => fs_status(problem),
        FsError::PutAbandoned { .. } => status::NO_UPLOAD,
        // The content service answered with something that is not what
        // it claims (its root or a chunk's bytes): an I/O failure to us.
        FsError::ContentRootRejected { .. } | FsError::ChunkRejected { .. } => status::IO,
        FsError::Tree(_)
        | FsError::Content(_)
        | FsError::Corrupt { .. }
        | FsError::BadRecord { .. }
        | FsError::BadRootBlock(_)
        | FsError::RootLost { .. }
        | FsError::BadTreeRoot { .. }
        | FsError::BadContentRoot(_) => status::CORRUPT,
    }
}

impl From<FsError> for Fail {
    fn from(e: FsError) -> Fail {
        Fail::new(fs_status(&e), e.to_string())
    }
}

impl From<RegistryError> for Fail {
    fn from(e: RegistryError) -> Fail {
        let status = match &e {
            RegistryError::Name(_) | RegistryError::Tag(_) | RegistryError::Digest(_) => {
                status::INVALID
            }
            RegistryError::Mismatch(_) => status::DIGEST_MISMATCH,
            RegistryError::CorruptBlob(_) | RegistryError::BadLink { .. } => status::CORRUPT,
            RegistryError::ManifestTooLarge { .. } => status::TOO_LARGE,
            RegistryError::NoSuchUpload { .. } => status::NO_UPLOAD,
            RegistryError::Fs(f) => fs_status(f),
        };
        Fail::new(status, e.to_string())
    }
}

impl From<block::Error> for Fail {
    fn from(e: block::Error) -> Fail {
        Fail::from(FsError::Block(e))
    }
}

/// A lease copy failed: the client lent too little, the wrong permission, or died.
pub fn lease_fail(which: u64, e: userlib::Error) -> Fail {
    Fail::new(
        status::BAD_LEASE,
        format!("lease {which} of the request: {e:?}"),
    )
}
