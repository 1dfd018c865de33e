//! The service's typed error, [`FsError`]: every failure of a call, as a
//! code (the reply label) and numbers (the reply words), in the reply that
//! answers the call (see `abi::iface`). No text crosses: an error about a
//! path or name says which text argument it is about ([`At`]), and
//! [`describe`] puts the argument the client sent back into the sentence.
//!
//! Reasons the lower layers give as fixed phrases (why a path, name, tag or
//! digest is refused) cross as a [`Why`]: a code and two values. The block
//! layer's errors cross through the block service's own codec
//! ([`BlockFault`]). What the filesystem library only has as text (a
//! content-service failure other than the disk's, a corrupt tree node's
//! detail) crosses as its kind and numbers; `fsck` reports the detail.

use alloc::string::String;
use core::fmt;

pub use content_api::BlockFault;

use crate::rights::{Needed, Op, Rights};

mod values;

pub use values::{
    why, ArgKind, At, Cause, ContentCode, Damage, Hash, MountStage, QuotaKind, Request, Size, Why,
};

abi::errors! {
    /// Everything a call of the service can fail with, with the values
    /// seen. `Display` reads without the arguments; [`describe`] (what
    /// the client's error shows) puts them in.
    pub enum FsError {
        NotFound = 1 { at: At } => "not found",
        AlreadyExists = 2 { at: At } => "already exists",
        NotADirectory = 3 { at: At } => "not a directory",
        IsADirectory = 4 { at: At } => "is a directory",
        DirectoryNotEmpty = 5 { at: At } => "directory not empty",
        InvalidPath = 6 { at: At, why: Why } => "invalid path: {why}",
        NameTooLong = 7 { at: At, len: u64, max: u64 } => "a name of {len} bytes exceeds {max}",
        /// A directory cannot move below itself (arguments `from`, `to`).
        IntoOwnSubtree = 8 {} => "cannot move a directory into its own subtree",
        FileTooLarge = 9 { at: At, size: u64, max: u64 } => "size {size} exceeds {max}",
        RequestTooLarge = 10 { what: Request, len: u64, limit: u64 }
            => "{what} of {len} bytes refused: the limit per request is {limit} bytes",
        NoRoom = 11 { what: Request, len: u64, free: u64 }
            => "{what} of {len} bytes refused: only {free} bytes are free",
        SnapshotNotFound = 12 { at: At } => "snapshot not found",
        SnapshotExists = 13 { at: At } => "snapshot already exists",
        BadSnapshotName = 14 { at: At, why: Why } => "bad snapshot name: {why}",
        /// A repository name, reference or digest the grammar refuses.
        BadArgument = 15 { at: At, kind: ArgKind, why: Why } => "{kind} {why}",
        /// The bytes do not hash to the digest they came with (argument
        /// `arg`, or `u64::MAX` when the service made the digest).
        DigestMismatch = 16 { arg: u64, got: Hash }
            => "digest mismatch: the content hashes to {got}",
        /// A stored blob no longer hashes to its name.
        BlobCorrupt = 17 { got: Hash } => "stored blob is corrupt: its content hashes to {got}",
        BlobNotStored = 18 { at: At } => "blob is not stored",
        /// Not linked into the repository (the first argument; the digest
        /// is the last).
        BlobNotInRepository = 19 {} => "blob is not in the repository",
        /// No such manifest (arguments `repo`, `reference`).
        ManifestNotFound = 20 {} => "no such manifest",
        ManifestTooLarge = 21 { len: u64, max: u64 } => "manifest of {len} bytes exceeds {max}",
        NoUpload = 22 {} => "no upload in progress",
        NoPut = 23 {} => "no put in progress",
        PutShort = 24 { got: u64, announced: u64 }
            => "the put has {got} bytes, {announced} were announced; nothing changed",
        UploadShort = 25 { got: u64, announced: u64 }
            => "upload has {got} bytes, {announced} were announced",
        PutOverrun = 26 { more: u64, have: u64, announced: u64 }
            => "{more} more bytes after {have} exceed the announced {announced}; put dropped, nothing changed",
        UploadOverrun = 27 { more: u64, have: u64, announced: u64 }
            => "{more} more bytes after {have} exceed the announced {announced}; upload dropped",
        PutAbandoned = 28 {}
            => "put abandoned: its staging file is gone (the live tree was restored from a snapshot meanwhile)",
        UploadUnknown = 29 { id: u64 } => "upload {id:016x} is not in progress",
        WrongOffset = 30 { offset: u64, size: u64 }
            => "the upload holds {size} bytes; data was sent for offset {offset}",
        /// The block layer or the disk failed, in the block layer's words
        /// ("the disk failed a write at block 95; the store is read-only ...").
        Disk = 31 { fault: BlockFault } => "{fault}",
        /// The disk failed reading a file's chunk at `offset` of the file.
        DiskAtChunk = 32 { fault: BlockFault, offset: u64 }
            => "{fault} (reading the chunk at offset {offset})",
        ChunkUnreadable = 33 { offset: u64, len: u64, ino: u64, cause: Cause }
            => "chunk at offset {offset} ({len} bytes) of inode {ino} {cause}",
        Damaged = 34 { what: Damage, ino: u64 } => "{what} (inode {ino}); run fsck",
        /// The content service failed with its error `code` (`content_api::ContentError`).
        ContentService = 35 { code: ContentCode }
            => "the content service failed: {code}; run fsck",
        ContentUnreachable = 36 { kernel: abi::Error }
            => "content service unreachable: {kernel}",
        NotMounted = 37 { stage: MountStage } => "the filesystem is not mounted: {stage}",
        NoClock = 38 {}
            => "the time is unknown (the RTC gave no date); registry GC needs it to spare pushes in progress",
        LeaseCopy = 39 { lease: u64, kernel: abi::Error }
            => "the caller's buffer {lease} could not be copied: {kernel}",
        BufferTooSmall = 40 { needed: u64, have: u64 }
            => "the answer needs {needed} bytes, the buffer has {have}",
        /// Lease 0 is not UTF-8 or has the wrong number of arguments.
        BadArguments = 41 {} => "text arguments are not UTF-8 or have the wrong number of parts",
        /// The caller's badge lacks the right the operation needs
        /// (`crate::rights`; the boot configuration gives the badge).
        NotPermitted = 42 { op: Op, needed: Needed, has: Rights }
            => "not permitted: this client may not {needed} (its boot configuration gives it {has}; {op} refused)",
        /// The write would take a repository or top-level directory (`at`:
        /// the argument naming it, or none) past its quota.
        QuotaExceeded = 43 { at: At, kind: QuotaKind, would: Size, limit: Size }
            => "quota exceeded: the {kind} would store {would} of its {limit} limit",
        /// `quota_remove` of a target that has no limit.
        QuotaNotSet = 44 { at: At } => "no quota is set",
        TooManyQuotas = 45 { max: u64 } => "too many quotas: at most {max} can be set",
        NoFsckRun = 55 {}
            => "this client's fsck run is gone (another client started one, or the service mounted again): start it again",
        NoRegistryGcRun = 56 {}
            => "this client's registry gc run is gone (another client started one, or the service mounted again): start it again",
        NoGcRun = 70 {}
            => "this client's gc run is gone (another client started one, or the service mounted again): start it again",
        NoSnapSpaceRun = 95 {}
            => "this client's snap space run is gone (another client started one, it was for another snapshot, or the service mounted again): start it again",
    }
}

impl FsError {
    /// A block error, through the block service's codec.
    pub fn disk(e: block::Error) -> FsError {
        FsError::Disk {
            fault: BlockFault(e),
        }
    }

    /// A lease copy the kernel refused.
    pub fn lease(index: u64, e: abi::Error) -> FsError {
        FsError::LeaseCopy {
            lease: index,
            kernel: e,
        }
    }

    /// A missing object (file, blob, manifest, snapshot, upload): what a
    /// caller mapping to "unknown" matches.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FsError::NotFound { .. }
                | FsError::SnapshotNotFound { .. }
                | FsError::BlobNotStored { .. }
                | FsError::BlobNotInRepository {}
                | FsError::ManifestNotFound {}
        )
    }
}

/// `e` in plain words with the text arguments the call sent (`args`, in
/// the declaration's order) put back where the error names one.
pub fn describe(e: &FsError, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("?");
    let last = || args.last().map(String::as_str).unwrap_or("?");
    match e {
        FsError::NotFound { at }
        | FsError::AlreadyExists { at }
        | FsError::NotADirectory { at }
        | FsError::IsADirectory { at }
        | FsError::DirectoryNotEmpty { at }
        | FsError::NameTooLong { at, .. }
        | FsError::FileTooLarge { at, .. } => match at.text(args) {
            Some(path) => write!(f, "{path}: {e}"),
            None => write!(f, "{e}"),
        },
        FsError::InvalidPath { at, why } => match at.text(args) {
            Some(path) => write!(f, "invalid path {path:?}: {why}"),
            None => write!(f, "{e}"),
        },
        FsError::IntoOwnSubtree {} => {
            write!(f, "cannot move {} into its own subtree {}", arg(0), arg(1))
        }
        FsError::SnapshotNotFound { at } | FsError::SnapshotExists { at } => {
            let what = if matches!(e, FsError::SnapshotNotFound { .. }) {
                "not found"
            } else {
                "already exists"
            };
            match at.text(args) {
                Some(name) => write!(f, "snapshot {name:?} {what}"),
                None => write!(f, "{e}"),
            }
        }
        FsError::BadSnapshotName { at, why } => match at.text(args) {
            Some(name) => write!(f, "snapshot name {name:?}: {why}"),
            None => write!(f, "{e}"),
        },
        FsError::BadArgument { at, kind, why } => match at.text(args) {
            Some(text) => write!(f, "{kind} {text:?}: {why}"),
            None => write!(f, "{e}"),
        },
        FsError::DigestMismatch { arg, got } => match At::arg(*arg).text(args) {
            Some(expected) => write!(
                f,
                "digest mismatch: expected {expected}, content hashes to {got}"
            ),
            None => write!(f, "{e}"),
        },
        FsError::QuotaExceeded {
            at,
            kind,
            would,
            limit,
        } => match at.text(args) {
            Some(name) => write!(
                f,
                "quota exceeded: {kind} {name} would store {would} of its {limit} limit"
            ),
            None => write!(f, "{e}"),
        },
        FsError::QuotaNotSet { at } => match at.text(args) {
            Some(name) => write!(f, "no quota is set on {name}"),
            None => write!(f, "{e}"),
        },
        FsError::BlobNotStored { at } => match at.text(args) {
            Some(d) => write!(f, "blob {d} is not stored"),
            None => write!(f, "{e}"),
        },
        FsError::BlobNotInRepository {} if args.len() >= 2 => {
            write!(f, "blob {} is not in repository {}", last(), arg(0))
        }
        FsError::ManifestNotFound {} if args.len() >= 2 => {
            write!(f, "no manifest {} in {}", arg(1), arg(0))
        }
        _ => write!(f, "{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_quota_refusal_names_its_target_and_both_sizes() {
        struct Described<'a>(&'a FsError, &'a [String]);
        impl fmt::Display for Described<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                describe(self.0, self.1, f)
            }
        }
        let e = FsError::QuotaExceeded {
            at: At::arg(0),
            kind: QuotaKind::Repository,
            would: Size(12_897_485),
            limit: Size(10 << 20),
        };
        let args = vec![String::from("library/alpine")];
        assert_eq!(
            alloc::format!("{}", Described(&e, &args)),
            "quota exceeded: repository library/alpine would store 12.3 MiB of its 10.0 MiB limit"
        );
        let e = FsError::QuotaExceeded {
            at: At { arg: 0, depth: 1 },
            kind: QuotaKind::Directory,
            would: Size(1500),
            limit: Size(1000),
        };
        let args = vec![String::from("/data/sub/file")];
        assert_eq!(
            alloc::format!("{}", Described(&e, &args)),
            "quota exceeded: directory /data would store 1.4 KiB of its 1000 bytes limit"
        );
        // Round trip through the reply's words.
        use abi::iface::ServiceError;
        let mut words = [0u64; abi::MSG_WORDS];
        e.put(&mut words);
        assert_eq!(FsError::take(e.code(), &words), Some(e));
    }
}
