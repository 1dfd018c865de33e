//! The library's errors as the interface's typed error, `fs_api::FsError`,
//! in one place: [`Fail`] is what the service's code returns; at the end
//! of each call [`Fail::into_api`] turns it into the reply's error, finding
//! the path or name it is about among the call's text arguments.

use alloc::string::ToString;

use filesystem::names::{DigestError, NameError, TagError};
use filesystem::{Digest, FsError as LibError, QuotaTarget, RegistryError};
use fs_api::{
    why, ArgKind, At, BlockFault, Cause, ContentCode, Damage, FsError, Hash, QuotaKind, Request,
    Size, Why,
};

/// A failure inside the service, before it becomes the reply's error.
pub enum Fail {
    Lib(LibError),
    Registry(RegistryError),
    /// Already the interface's error.
    Api(FsError),
}

impl From<LibError> for Fail {
    fn from(e: LibError) -> Fail {
        Fail::Lib(e)
    }
}

impl From<RegistryError> for Fail {
    fn from(e: RegistryError) -> Fail {
        Fail::Registry(e)
    }
}

impl From<FsError> for Fail {
    fn from(e: FsError) -> Fail {
        Fail::Api(e)
    }
}

impl From<block::Error> for Fail {
    fn from(e: block::Error) -> Fail {
        Fail::Api(FsError::disk(e))
    }
}

impl Fail {
    /// The reply's error; `args` are the call's text arguments.
    pub fn into_api(self, args: &[&str]) -> FsError {
        match self {
            Fail::Lib(e) => lib_error(e, args),
            Fail::Registry(e) => registry_error(e, args),
            Fail::Api(e) => e,
        }
    }
}

/// Text argument `arg` of kind `kind` was refused by the grammar (other
/// registry errors pass on as they are).
pub fn bad_argument(arg: u64, kind: ArgKind, e: RegistryError) -> Fail {
    let why = match &e {
        RegistryError::Name(n) => name_why(n),
        RegistryError::Tag(t) => tag_why(t),
        RegistryError::Digest(d) => digest_why(d),
        _ => return Fail::Registry(e),
    };
    Fail::Api(FsError::BadArgument {
        at: At::arg(arg),
        kind,
        why,
    })
}

fn ch(c: char) -> u64 {
    u64::from(u32::from(c))
}

fn name_why(e: &NameError) -> Why {
    match e {
        NameError::Empty => Why::of(why::EMPTY),
        NameError::TooLong { len, max } => Why::with(why::NAME_TOO_LONG, *len as u64, *max as u64),
        NameError::Absolute => Why::of(why::ABSOLUTE),
        NameError::EmptyComponent { index } => {
            Why::with(why::NAME_EMPTY_COMPONENT, *index as u64, 0)
        }
        NameError::DotComponent { .. } => Why::of(why::DOT_COMPONENT),
        NameError::LeadingUnderscore { .. } => Why::of(why::LEADING_UNDERSCORE),
        NameError::BadChar { ch: c, at } => Why::with(why::NAME_BAD_CHAR, ch(*c), *at as u64),
        NameError::BadSeparator { .. } => Why::of(why::BAD_SEPARATOR),
    }
}

fn tag_why(e: &TagError) -> Why {
    match e {
        TagError::Empty => Why::of(why::EMPTY),
        TagError::TooLong { len, max } => Why::with(why::TAG_TOO_LONG, *len as u64, *max as u64),
        TagError::BadFirst { ch: c } => Why::with(why::TAG_BAD_FIRST, ch(*c), 0),
        TagError::BadChar { ch: c, at } => Why::with(why::TAG_BAD_CHAR, ch(*c), *at as u64),
    }
}

fn digest_why(e: &DigestError) -> Why {
    match e {
        DigestError::MissingColon => Why::of(why::MISSING_COLON),
        DigestError::UnknownAlgorithm { .. } => Why::of(why::UNKNOWN_ALGORITHM),
        DigestError::WrongLength { len, expected, .. } => {
            Why::with(why::DIGEST_WRONG_LENGTH, *len as u64, *expected as u64)
        }
        DigestError::BadHex { ch: c, at } => Why::with(why::DIGEST_BAD_HEX, ch(*c), *at as u64),
    }
}

/// A digest as its algorithm and (up to) 32 bytes.
pub fn hash_of(d: &Digest) -> Hash {
    let algorithm = Hash::ALGORITHMS
        .iter()
        .position(|a| *a == d.algorithm().name())
        .unwrap_or(usize::MAX) as u64;
    let mut bytes = [0u8; 32];
    let hex = d.hex().as_bytes();
    for (i, b) in bytes.iter_mut().enumerate() {
        let digit = |at: usize| {
            hex.get(at)
                .and_then(|c| (*c as char).to_digit(16))
                .unwrap_or(0) as u8
        };
        *b = (digit(2 * i) << 4) | digit(2 * i + 1);
    }
    Hash { algorithm, bytes }
}

fn registry_error(e: RegistryError, args: &[&str]) -> FsError {
    match e {
        RegistryError::Name(n) => FsError::BadArgument {
            at: At::NONE,
            kind: ArgKind::Repository,
            why: name_why(&n),
        },
        RegistryError::Tag(t) => FsError::BadArgument {
            at: At::NONE,
            kind: ArgKind::Reference,
            why: tag_why(&t),
        },
        RegistryError::Digest(d) => FsError::BadArgument {
            at: At::NONE,
            kind: ArgKind::Digest,
            why: digest_why(&d),
        },
        RegistryError::Mismatch(m) => {
            let expected = m.expected.to_string();
            let arg = args
                .iter()
                .position(|a| *a == expected)
                .map_or(u64::MAX, |i| i as u64);
            FsError::DigestMismatch {
                arg,
                got: hash_of(&m.got),
            }
        }
        RegistryError::CorruptBlob(m) => FsError::BlobCorrupt {
            got: hash_of(&m.got),
        },
        RegistryError::BadLink { .. } => FsError::Damaged {
            what: Damage::Link,
            ino: 0,
        },
        RegistryError::ManifestTooLarge { len, max } => FsError::ManifestTooLarge { len, max },
        RegistryError::NoSuchUpload { id } => FsError::UploadUnknown {
            id: u64::from_str_radix(&id, 16).unwrap_or(0),
        },
        RegistryError::Fs(e) => lib_error(e, args),
    }
}

/// The argument holding path component `name` (a name too long).
fn holding(name: &str, args: &[&str]) -> At {
    args.iter()
        .position(|a| a.split('/').any(|c| c == name))
        .map_or(At::NONE, |i| At::arg(i as u64))
}

fn lib_error(e: LibError, args: &[&str]) -> FsError {
    // A failing disk, directly or relayed by the content service.
    if let Some(fault) = disk_fault(&e) {
        return FsError::Disk { fault };
    }
    let damaged = |what| FsError::Damaged { what, ino: 0 };
    match e {
        LibError::NotFound { path } => FsError::NotFound {
            at: At::find(&path, args),
        },
        LibError::AlreadyExists { path } => FsError::AlreadyExists {
            at: At::find(&path, args),
        },
        LibError::NotADirectory { path } => FsError::NotADirectory {
            at: At::find(&path, args),
        },
        LibError::IsADirectory { path } => FsError::IsADirectory {
            at: At::find(&path, args),
        },
        LibError::DirectoryNotEmpty { path } => FsError::DirectoryNotEmpty {
            at: At::find(&path, args),
        },
        LibError::InvalidPath { path, reason } => FsError::InvalidPath {
            at: At::find(&path, args),
            why: Why::of_phrase(reason),
        },
        LibError::NameTooLong { name, max } => FsError::NameTooLong {
            at: holding(&name, args),
            len: name.len() as u64,
            max: max as u64,
        },
        LibError::InvalidRename { .. } => FsError::IntoOwnSubtree {},
        LibError::FileTooLarge { path, size, max } => FsError::FileTooLarge {
            at: At::find(&path, args),
            size,
            max,
        },
        LibError::RequestTooLarge { what, len, limit } => FsError::RequestTooLarge {
            what: Request::of_name(what),
            len,
            limit,
        },
        LibError::NoRoom { what, len, free } => FsError::NoRoom {
            what: Request::of_name(what),
            len,
            free,
        },
        LibError::SnapshotNotFound { name } => FsError::SnapshotNotFound {
            at: At::find(&name, args),
        },
        LibError::SnapshotExists { name } => FsError::SnapshotExists {
            at: At::find(&name, args),
        },
        LibError::BadSnapshotName { name, reason } => FsError::BadSnapshotName {
            at: At::find(&name, args),
            why: Why::of_phrase(reason),
        },
        LibError::ChunkUnreadable {
            ino,
            offset,
            len,
            problem,
        } => match disk_fault(&problem) {
            Some(fault) => FsError::DiskAtChunk { fault, offset },
            None => FsError::ChunkUnreadable {
                offset,
                len: u64::from(len),
                ino,
                cause: match *problem {
                    LibError::ContentUnreachable { .. } => Cause::ContentUnreachable,
                    LibError::Block(_) => Cause::Unreadable,
                    _ => Cause::Corrupt,
                },
            },
        },
        LibError::PutAbandoned { .. } => FsError::PutAbandoned {},
        LibError::ContentService { code, .. } => FsError::ContentService {
            code: ContentCode(code),
        },
        LibError::ContentUnreachable { code } => FsError::ContentUnreachable {
            kernel: abi::Error::from_code(code).unwrap_or(abi::Error::PeerDead),
        },
        LibError::Source(_) => FsError::lease(1, abi::Error::BadLease),
        LibError::Block(b) => FsError::disk(b),
        LibError::Tree(_) => damaged(Damage::Tree),
        LibError::Content(_) => damaged(Damage::ContentStore),
        LibError::Corrupt { ino, .. } => FsError::Damaged {
            what: Damage::Invariant,
            ino,
        },
        LibError::BadRecord { ino, .. } => FsError::Damaged {
            what: Damage::Inode,
            ino,
        },
        LibError::BadRootBlock(_) => damaged(Damage::RootBlock),
        LibError::RootLost { .. } => damaged(Damage::RootLost),
        LibError::BadTreeRoot { .. } => damaged(Damage::TreeRoot),
        LibError::BadContentRoot(_) => damaged(Damage::ContentRoot),
        LibError::ContentRootRejected { .. } => damaged(Damage::ContentRootRejected),
        LibError::ChunkRejected { .. } => damaged(Damage::ChunkRejected),
        LibError::ContentNotLoaded => damaged(Damage::ContentNotLoaded),
        LibError::QuotaExceeded {
            target,
            would,
            limit,
        } => {
            let (kind, at) = match &target {
                QuotaTarget::Dir(n) => (
                    QuotaKind::Directory,
                    At::find(&alloc::format!("/{n}"), args),
                ),
                QuotaTarget::Repo(r) => (QuotaKind::Repository, At::find(r.as_str(), args)),
            };
            FsError::QuotaExceeded {
                at,
                kind,
                would: Size(would),
                limit: Size(limit),
            }
        }
        LibError::TooManyQuotas { max } => FsError::TooManyQuotas { max: max as u64 },
    }
}

/// The disk's failure inside `e`: a block error of ours, or one the
/// content service relayed (the library keeps it typed, as `Block`).
fn disk_fault(e: &LibError) -> Option<BlockFault> {
    e.block_error().map(|b| BlockFault(b.clone()))
}
