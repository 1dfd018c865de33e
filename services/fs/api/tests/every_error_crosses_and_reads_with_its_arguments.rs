//! Every `FsError` variant crosses the fake service's reply and comes back
//! equal, with its values, in one round trip; the client's error reads in
//! plain words with the path or name the call sent put back in.
mod support;

use abi::iface::{reply_message, reply_result, CallError, ServiceError};
use fs_api::rights::{Needed, Op};
use fs_api::{
    fs, why, ArgKind, At, BlockFault, Cause, ContentCode, Damage, FsError, Hash, MountStage,
    Request, Rights, Why,
};
use support::{client, FakeFs};

fn hash() -> Hash {
    Hash {
        algorithm: 0,
        bytes: core::array::from_fn(|i| i as u8),
    }
}

fn every_variant() -> Vec<FsError> {
    let at = At { arg: 1, depth: 2 };
    let why = Why::with(why::NAME_BAD_CHAR, u64::from('A'), 3);
    vec![
        FsError::NotFound { at },
        FsError::AlreadyExists { at },
        FsError::NotADirectory { at },
        FsError::IsADirectory { at },
        FsError::DirectoryNotEmpty { at },
        FsError::InvalidPath { at, why },
        FsError::NameTooLong {
            at,
            len: 300,
            max: 255,
        },
        FsError::IntoOwnSubtree {},
        FsError::FileTooLarge {
            at,
            size: 9,
            max: 8,
        },
        FsError::RequestTooLarge {
            what: Request::BlobPut,
            len: 5,
            limit: 4,
        },
        FsError::NoRoom {
            what: Request::Put,
            len: 5,
            free: 4,
        },
        FsError::SnapshotNotFound { at },
        FsError::SnapshotExists { at },
        FsError::BadSnapshotName { at, why },
        FsError::BadArgument {
            at,
            kind: ArgKind::Digest,
            why,
        },
        FsError::DigestMismatch {
            arg: 1,
            got: hash(),
        },
        FsError::BlobCorrupt { got: hash() },
        FsError::BlobNotStored { at },
        FsError::BlobNotInRepository {},
        FsError::ManifestNotFound {},
        FsError::ManifestTooLarge { len: 9, max: 8 },
        FsError::NoUpload {},
        FsError::NoPut {},
        FsError::PutShort {
            got: 1,
            announced: 2,
        },
        FsError::UploadShort {
            got: 1,
            announced: 2,
        },
        FsError::PutOverrun {
            more: 3,
            have: 2,
            announced: 4,
        },
        FsError::UploadOverrun {
            more: 3,
            have: 2,
            announced: 4,
        },
        FsError::PutAbandoned {},
        FsError::UploadUnknown { id: 0xabc },
        FsError::WrongOffset { offset: 5, size: 3 },
        FsError::disk(block::Error::NoSpace),
        FsError::DiskAtChunk {
            fault: BlockFault(block::Error::Device(block::DeviceError::Io {
                first: 95,
                code: 5,
            })),
            offset: 1 << 20,
        },
        FsError::ChunkUnreadable {
            offset: 4096,
            len: 100,
            ino: 3,
            cause: Cause::Corrupt,
        },
        FsError::Damaged {
            what: Damage::Inode,
            ino: 12,
        },
        FsError::ContentService {
            code: ContentCode(6),
        },
        FsError::ContentUnreachable {
            kernel: abi::Error::PeerDead,
        },
        FsError::NotMounted {
            stage: MountStage::BlockService,
        },
        FsError::NoClock {},
        FsError::lease(1, abi::Error::BadLease),
        FsError::BufferTooSmall {
            needed: 10,
            have: 4,
        },
        FsError::BadArguments {},
        FsError::NotPermitted {
            op: Op(fs::label::append),
            needed: Needed(Rights::WRITE),
            has: Rights::READ,
        },
        FsError::QuotaExceeded {
            at: At::arg(0),
            kind: fs_api::QuotaKind::Repository,
            would: fs_api::Size(11 << 20),
            limit: fs_api::Size(10 << 20),
        },
        FsError::QuotaNotSet { at: At::arg(0) },
        FsError::TooManyQuotas { max: 1024 },
    ]
}

#[test]
fn every_variant_round_trips_through_a_reply() {
    let all = every_variant();
    let mut codes: Vec<u64> = all.iter().map(|e| e.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "one sample per code");
    assert_eq!(
        codes,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "every code has a sample"
    );
    for e in all {
        let reply = reply_message::<(), FsError>(&Err(e.clone()));
        assert_eq!(
            reply_result::<(), FsError>(&reply),
            Err(CallError::Service(e))
        );
    }
}

#[test]
fn every_variant_crosses_the_fake_service_in_one_call() {
    for e in every_variant() {
        let c = client(FakeFs {
            errors: [e.clone()].into(),
            ..FakeFs::default()
        });
        let got = c.rename("/a/b/c", "/x/y/z").unwrap_err();
        assert_eq!(got.service(), Some(&e));
        assert_eq!(got.args(), ["/a/b/c", "/x/y/z"]);
        let text = got.to_string();
        assert!(
            !text.is_empty() && !text.contains('{'),
            "{e:?} reads {text:?}"
        );
    }
}

/// The message `e` reads as after a call with `args`.
fn reads(
    e: FsError,
    call: impl FnOnce(&support::Client) -> Result<(), fs_api::client::Error>,
) -> String {
    let c = client(FakeFs {
        errors: [e].into(),
        ..FakeFs::default()
    });
    call(&c).unwrap_err().to_string()
}

#[test]
fn paths_and_names_are_put_back_into_the_message() {
    let stat = |c: &support::Client| c.stat("/nope").map(drop);
    assert_eq!(
        reads(FsError::NotFound { at: At::arg(0) }, stat),
        "/nope: not found"
    );
    // A missing parent: its first components.
    let put = |c: &support::Client| c.put_begin("/d/t.txt/x", 4);
    assert_eq!(
        reads(
            FsError::NotADirectory {
                at: At { arg: 0, depth: 2 }
            },
            put
        ),
        "/d/t.txt: not a directory"
    );
    let ls = |c: &support::Client| c.list("relative/path", "", 1, &mut [0; 8]).map(drop);
    let why = Why::of_phrase("not absolute");
    assert_eq!(
        reads(
            FsError::InvalidPath {
                at: At::arg(0),
                why
            },
            ls
        ),
        "invalid path \"relative/path\": not absolute"
    );
    let snap = |c: &support::Client| c.snap_restore("nosuch");
    assert_eq!(
        reads(FsError::SnapshotNotFound { at: At::arg(0) }, snap),
        "snapshot \"nosuch\" not found"
    );
    let mv = |c: &support::Client| c.rename("/a", "/a/b");
    assert_eq!(
        reads(FsError::IntoOwnSubtree {}, mv),
        "cannot move /a into its own subtree /a/b"
    );
    let blob = |c: &support::Client| c.blob_begin("Library", "sha256:00", 1);
    let why = Why::with(why::NAME_BAD_CHAR, u64::from('L'), 0);
    assert_eq!(
        reads(
            FsError::BadArgument {
                at: At::arg(0),
                kind: ArgKind::Repository,
                why
            },
            blob
        ),
        "repository \"Library\": has 'L' at byte 0; allowed: a-z 0-9 . _ - /"
    );
    let m = |c: &support::Client| c.manifest_put("app", "sha256:ab", b"{}").map(drop);
    assert_eq!(
        reads(
            FsError::DigestMismatch {
                arg: 1,
                got: hash()
            },
            m
        ),
        format!(
            "digest mismatch: expected sha256:ab, content hashes to {}",
            hash()
        )
    );
    let get = |c: &support::Client| c.manifest_get("app", "v1", &mut [0; 4]).map(drop);
    assert_eq!(
        reads(FsError::ManifestNotFound {}, get),
        "no manifest v1 in app"
    );
    let linked = |c: &support::Client| c.blob_linked("app", "sha256:cd").map(drop);
    assert_eq!(
        reads(FsError::BlobNotInRepository {}, linked),
        "blob sha256:cd is not in repository app"
    );
}

#[test]
fn lower_layers_read_in_their_own_words() {
    let get = |c: &support::Client| c.read("/c.bin", 0, &mut [0; 8]).map(drop);
    let fault = BlockFault(block::Error::Device(block::DeviceError::Io {
        first: 95,
        code: 5,
    }));
    let text = reads(
        FsError::DiskAtChunk {
            fault,
            offset: 8192,
        },
        get,
    );
    assert!(
        text.starts_with("the disk failed a request at block 95"),
        "{text}"
    );
    assert!(
        text.ends_with("(reading the chunk at offset 8192)"),
        "{text}"
    );
    let put = |c: &support::Client| c.put_begin("/huge.bin", 1 << 40);
    assert_eq!(
        reads(
            FsError::NoRoom {
                what: Request::Put,
                len: 1 << 40,
                free: 7
            },
            put
        ),
        "put of 1099511627776 bytes refused: only 7 bytes are free"
    );
    let ls = |c: &support::Client| c.list("/", "", 1, &mut [0; 8]).map(drop);
    assert_eq!(
        reads(FsError::NotMounted { stage: MountStage::BlockService }, ls),
        "the filesystem is not mounted: block service unreachable or failing at start (the boot log says why)"
    );
}

#[test]
fn a_refused_buffer_reads_as_plain_words_and_never_reaches_the_service() {
    let c = client(FakeFs::default());
    // An empty output buffer is refused before the service sees it.
    let e = c.read("/a", 0, &mut []).unwrap_err();
    assert!(matches!(e.error, CallError::Refused(_)), "{e:?}");
    assert!(e.to_string().starts_with("request refused: "), "{e}");
    assert!(c.transport_is_idle());
}

trait Idle {
    fn transport_is_idle(&self) -> bool;
}

impl Idle for support::Client {
    fn transport_is_idle(&self) -> bool {
        self.stub().transport.server.borrow().seen.is_empty()
    }
}

/// A service that has died: every call ends with the kernel's `PeerDead`.
struct Dead;

impl abi::iface::Transport for Dead {
    fn call(&self, _msg: &abi::Message) -> Result<abi::Message, abi::Error> {
        Err(abi::Error::PeerDead)
    }
}

#[test]
fn a_dead_service_reads_as_unreachable() {
    let c = fs_api::FsClient::over(Dead);
    let e = c.stat("/a").unwrap_err();
    assert_eq!(e.error, CallError::Kernel(abi::Error::PeerDead));
    assert_eq!(
        e.to_string(),
        "filesystem service unreachable: it has stopped (restart the system)"
    );
}

#[test]
fn a_content_service_error_reads_by_its_name() {
    let stat = |c: &support::Client| c.stat("/f").map(drop);
    assert_eq!(
        reads(
            FsError::ContentService {
                code: ContentCode(6)
            },
            stat
        ),
        "the content service failed: chunk corrupt (content error 6); run fsck"
    );
    assert_eq!(
        reads(
            FsError::ContentService {
                code: ContentCode(99)
            },
            stat
        ),
        "the content service failed: an unknown error (content error 99); run fsck"
    );
}
