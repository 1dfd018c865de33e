//! The filesystem/registry service's IPC interface, declared once
//! ([`fs`]: client stubs, the server's dispatch, typed errors [`FsError`]),
//! and its client [`FsClient`], which keeps the caller's text arguments so
//! an error reads with the path or name it is about.
//!
//! # Design principles
//! - One declaration ([`fs`]): each operation's arguments (words), leases
//!   (direction, maximum size) and typed reply ([`abi::words!`] structs).
//!   The server implements `fs::Server`, one method per operation, and
//!   never decodes a word.
//! - Text arguments (paths, names, digests, references) travel in lease 0
//!   as UTF-8, each followed by a NUL ([`join_args`] / [`split_args`]):
//!   NUL is in no valid path, name or digest, and the lease is never empty.
//! - Bulk data travels in lease 1, in either direction, of any size up to
//!   [`REQUEST_MAX`]: the service moves it in bounded pieces ([`PIECE`]),
//!   so a blob of any size streams with bounded memory in every process.
//!   Data of no bytes is allowed (`may_be_empty`): an empty file or blob.
//! - A failed call answers with an [`FsError`] and its values in the same
//!   reply: codes and numbers, never text. An error about a path or name
//!   says which argument ([`At`]); the client re-attaches the text it sent
//!   ([`client::Error`]), so the user reads `"/a/b: not found"`.
//! - Uploads, puts and blob reads that span several calls are per-client
//!   state in the service, keyed by the client number in the caller's
//!   badge (which the kernel vouches for).
//! - Rights per client ([`rights`]): the badge the boot configuration
//!   gives a client (`ep=fs:<badge>`) is its client number (bits 0-15)
//!   and its rights (bits 16-19: [`Rights::READ`] `0x1_0000`,
//!   [`Rights::WRITE`] `0x2_0000`, [`Rights::SNAPSHOT`] `0x4_0000`,
//!   [`Rights::ADMIN`] `0x8_0000`). No rights bits: no rights. Each
//!   operation's right is declared once, in [`needed`] below the
//!   interface; the service checks it before the operation runs
//!   ([`rights::dispatch`]) and refuses with [`FsError::NotPermitted`]
//!   ("not permitted: this client may not write (its boot configuration
//!   gives it read only; append refused)").
//! - The client is generic over its transport (`abi::iface::Transport`):
//!   it builds and is tested on the host against a fake server.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod client;
mod error;
pub mod rights;
mod wall_time;

pub use client::FsClient;
pub use error::{
    describe, why, ArgKind, At, BlockFault, Cause, ContentCode, Damage, FsError, Hash, MountStage,
    QuotaKind, Request, Size, Why,
};
pub use rights::Rights;
pub use wall_time::WallTime;

use alloc::vec::Vec;

/// Bytes the service moves per step between a lease and the filesystem.
pub const PIECE: usize = 1024 * 1024;

/// Longest length one put, append, blob put or upload append may announce
/// (the service also refuses more than the disk has free), and the largest
/// data lease. Set at build time: one system-wide value, not per client.
pub const REQUEST_MAX: u64 = 1 << 40;
/// Largest manifest accepted (the registry library's limit).
pub const MANIFEST_MAX: usize = 4 << 20;
/// Longest lease 0 (the text arguments with their NULs).
pub const ARGS_MAX: u64 = 4096;
/// Largest buffer for a text answer (listings, reports).
pub const TEXT_MAX: u64 = 16 << 20;

/// The registry GC's default grace period: an hour, as a push takes
/// minutes between its first layer and its manifest.
pub const REGISTRY_GC_GRACE_SECS: u64 = 3600;

abi::words! {
    /// What `stat` answers.
    pub struct Stat {
        pub is_dir: bool,
        pub size: u64,
        pub ino: u64,
        pub mtime: u64,
        pub mode: u64,
    }
}

abi::words! {
    /// What a read (file, blob, manifest) answers.
    pub struct Read {
        /// Bytes written into lease 1.
        pub bytes: u64,
        /// The object's size.
        pub size: u64,
    }
}

abi::words! {
    /// What `list` answers.
    pub struct Listed {
        pub entries: u64,
        /// Bytes of the lines written into lease 1.
        pub bytes: u64,
    }
}

abi::words! {
    /// What an operation answering text wrote into lease 1.
    pub struct Text {
        pub written: u64,
        /// Bytes the full text needs (more than written: it was cut; a
        /// paged listing goes on after its last whole line).
        pub needed: u64,
    }
}

abi::words! {
    /// What `snap_diff_page` answers.
    pub struct DiffText {
        /// Bytes of whole change lines at the start of lease 1.
        pub written: u64,
        /// Bytes of the next page's cursor (hex digits), written right
        /// after the lines; 0: the diff is complete.
        pub cursor: u64,
    }
}

abi::words! {
    /// What `fsck` answers.
    pub struct Checked {
        pub text: Text,
        /// Problems found (0: clean).
        pub problems: u64,
    }
}

abi::words! {
    /// What `fsck_step` answers: the report once `done` (1), nothing
    /// written before.
    pub struct FsckStepped {
        pub checked: Checked,
        /// 1: the run is over and `checked` holds its report; 0: call again.
        pub done: u64,
    }
}

abi::words! {
    /// What `registry_gc_step` answers: the report once `done` (1).
    pub struct Stepped {
        pub text: Text,
        /// 1: the run is over and `text` is its report; 0: call again.
        pub done: u64,
    }
}

impl Text {
    /// No text: what a step that is not the last answers.
    pub const EMPTY: Text = Text {
        written: 0,
        needed: 0,
    };
}

impl Stepped {
    /// The run goes on: call again.
    pub const MORE: Stepped = Stepped {
        text: Text::EMPTY,
        done: 0,
    };
}

abi::words! {
    /// What `df` answers: the text and its figures.
    pub struct Space {
        pub text: Text,
        pub logical_bytes: u64,
        pub chunk_bytes: u64,
        pub physical_bytes: u64,
        pub free_bytes: u64,
    }
}

abi::interface! {
    /// The filesystem/registry service. Lease 0 = `args`: the text
    /// arguments named in each comment, in order ([`join_args`]); lease 1
    /// = `data` (read by the service) or `out` (written by it).
    pub mod fs {
        // ---- files ----
        /// `path`.
        fn stat = 1 () [0 args: Read(ARGS_MAX)] -> Result<Stat, FsError>;
        /// `path`, `after` (may be empty): up to `limit` entries after it
        /// as lines "d name" / "f name" (the whole page must fit in `out`).
        fn list = 2 (limit: u64) [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<Listed, FsError>;
        /// `path`: bytes from `offset`, each chunk verified before it leaves.
        fn read = 3 (offset: u64) [0 args: Read(ARGS_MAX), 1 out: Write(REQUEST_MAX)]
            -> Result<Read, FsError>;
        /// `path`: creates the file (and its parents) or empties it. To
        /// replace contents, use `put_begin`/`put_write`/`put_finish`: a
        /// crash between `create` and the last `append` leaves a prefix.
        fn create = 4 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `path`, the data appended (one transaction). Answers the size.
        fn append = 5 () [0 args: Read(ARGS_MAX), 1 data: Read(REQUEST_MAX, may_be_empty)]
            -> Result<u64, FsError>;
        /// `path`: removes a file or an empty directory (`recursive`: a tree).
        fn remove = 6 (recursive: bool) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `path`: creates the directory and its parents.
        fn mkdir = 7 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `from`, `to`.
        fn rename = 8 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `path`.
        fn truncate = 9 (size: u64) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        // ---- blobs ----
        /// `repo`, `digest`, the whole blob: verified and stored in one
        /// call (streamed through the service). Answers its size.
        fn blob_put = 10 () [0 args: Read(ARGS_MAX), 1 data: Read(REQUEST_MAX, may_be_empty)]
            -> Result<u64, FsError>;
        /// `repo`, `digest`: starts this client's upload of `length` bytes
        /// (an earlier unfinished one is dropped).
        fn blob_begin = 11 (length: u64) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// The next bytes of this client's upload. Answers the bytes so far.
        fn blob_write = 12 () [1 data: Read(REQUEST_MAX, may_be_empty)] -> Result<u64, FsError>;
        /// Verifies the upload against its digest, stores and links the
        /// blob. Answers its size.
        fn blob_finish = 13 () -> Result<u64, FsError>;
        /// `digest`: blob bytes from `offset`, each chunk verified.
        fn blob_read = 14 (offset: u64) [0 args: Read(ARGS_MAX), 1 out: Write(REQUEST_MAX)]
            -> Result<Read, FsError>;
        /// `digest`. Answers its size.
        fn blob_stat = 15 () [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `digest`.
        fn blob_remove = 16 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        // ---- manifests and the catalog ----
        /// `repo`, `reference`, the manifest. Answers its SHA-256.
        fn manifest_put = 17 () [0 args: Read(ARGS_MAX), 1 data: Read(REQUEST_MAX, may_be_empty)]
            -> Result<[u8; 32], FsError>;
        /// `repo`, `reference`: the manifest (cut to `out`) and its size.
        fn manifest_get = 18 () [0 args: Read(ARGS_MAX), 1 out: Write(REQUEST_MAX)]
            -> Result<Read, FsError>;
        /// `repo`, `reference`.
        fn manifest_remove = 19 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `after` (may be empty): repository names after it in path order,
        /// one per line, as many whole lines as fit; `needed` counts what
        /// all names after it need: page on from the last line. The
        /// service holds one page of names, never the list.
        fn repos = 20 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)] -> Result<Text, FsError>;
        /// `repo`, `after` (may be empty): tags, paged like `repos`.
        fn tags = 21 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)] -> Result<Text, FsError>;
        // ---- snapshots ----
        /// `name`.
        fn snap_create = 22 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        // 23 was `snap_list` (the whole list in one reply) and 24 `snap_diff`
        // (each page walked the whole diff): retired for `snaps` (76) and
        // `snap_diff_page` (75), which page.
        /// `name`.
        fn snap_restore = 25 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `name`.
        fn snap_remove = 26 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        // ---- maintenance ----
        /// The collection's report.
        fn gc = 27 (dry_run: bool) [1 out: Write(TEXT_MAX)] -> Result<Text, FsError>;
        /// The check's report and the number of problems, in one request
        /// (every other client waits for it; `fsck_step` does not).
        fn fsck = 28 () [1 out: Write(TEXT_MAX)] -> Result<Checked, FsError>;
        /// Space figures, as text and words.
        fn df = 29 () [1 out: Write(TEXT_MAX)] -> Result<Space, FsError>;
        /// Cache, journal, I/O counts and recent events.
        fn stats = 30 () [1 out: Write(TEXT_MAX)] -> Result<Text, FsError>;
        /// Makes every operation so far durable.
        fn sync = 31 () -> Result<(), FsError>;
        /// Sync, then the block service writes everything home: before poweroff.
        fn shutdown = 32 () -> Result<(), FsError>;
        // 33 was `LastText` (a failure's message by a second call): retired,
        // errors carry their values in the reply.
        // ---- puts: a file's contents replaced all or nothing ----
        /// `path`: starts this client's put of `length` bytes (an earlier
        /// unfinished put of this client is dropped). Fails at once if the
        /// path cannot become a file.
        fn put_begin = 34 (length: u64) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// The next bytes (staged, invisible). Answers the bytes so far.
        fn put_write = 35 () [1 data: Read(REQUEST_MAX, may_be_empty)] -> Result<u64, FsError>;
        /// Switches the staged contents in at the path in one transaction
        /// (parents created, an existing file replaced). Answers the size.
        fn put_finish = 36 () -> Result<u64, FsError>;
        /// Drops this client's put (if any); the file keeps its contents.
        fn put_abort = 37 () -> Result<(), FsError>;
        // ---- resumable upload sessions (the registry HTTP service) ----
        // A session is `repositories/<repo>/_uploads/<id>/`; it outlives
        // the client's connection, the service and a power cut.
        /// `repo`: starts a session. Answers its id.
        fn upload_start = 40 () [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `repo`, data appended at `offset`, which must be the session's
        /// size (else `WrongOffset`). Durable when it answers the new size.
        fn upload_append = 41 (id: u64, offset: u64)
            [0 args: Read(ARGS_MAX), 1 data: Read(REQUEST_MAX, may_be_empty)]
            -> Result<u64, FsError>;
        /// `repo`. Answers the session's size.
        fn upload_status = 42 (id: u64) [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `repo`, `digest`: verifies the session's bytes, stores the blob
        /// and links it into the repository. Answers its size.
        fn upload_finish = 43 (id: u64) [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `repo`: drops the session and its bytes.
        fn upload_cancel = 44 (id: u64) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// `repo`, `from`, `digest`: links a blob that `from` holds into
        /// `repo` without a byte sent. Answers its size.
        fn blob_mount = 45 () [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `repo`, `digest`: its size when the blob is stored and linked
        /// into `repo` (what a registry may serve under that name).
        fn blob_linked = 46 () [0 args: Read(ARGS_MAX)] -> Result<u64, FsError>;
        /// `repo`, `digest`: removes the repository's link to the blob
        /// (the blob itself stays for other repositories and GC).
        fn blob_unlink = 47 () [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        /// Registry GC (`garbage-collect --delete-untagged`): untagged
        /// manifests, blobs no manifest names and idle upload sessions go,
        /// whatever was written in the last `grace_secs` stays; then the
        /// chunk GC. The report.
        fn registry_gc = 48 (dry_run: bool, grace_secs: u64) [1 out: Write(TEXT_MAX)]
            -> Result<Text, FsError>;
        // ---- Open upload sessions, listed (abandoned ones removed with `upload_cancel`) ----
        /// `repo`, `after` (empty: from the start; else the last line of
        /// the previous page): `repo`'s open upload sessions with higher
        /// ids, one per line ("<id> <bytes> bytes, idle <s> s", the id in
        /// 16 hex digits, as `upload_cancel` takes it) in id order, as many
        /// whole lines as fit; `needed` > `written` when more may follow.
        /// The service holds one page. Remove one with `upload_cancel`.
        fn uploads = 49 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<Text, FsError>;
        /// `after` (may be empty): the repositories holding upload
        /// sessions (an `_uploads` directory), paged like `repos`. Not the
        /// catalog: a push that failed before its first blob was stored
        /// leaves a session in a repository `repos` does not name.
        fn upload_repos = 115 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<Text, FsError>;
        // ---- quotas: a limit on a repository's or a top-level directory's bytes ----
        // Argument: the repository name (`repo`) or `/top`. `limit` in bytes.
        fn quota_set = 50 (repo: bool, limit: u64) [0 args: Read(ARGS_MAX)]
            -> Result<(), FsError>;
        fn quota_remove = 51 (repo: bool) [0 args: Read(ARGS_MAX)] -> Result<(), FsError>;
        // One line per limit: `dir /top <limit> <used>` or `repo <name> <limit> <used>`.
        fn quotas = 52 () [1 out: Write(TEXT_MAX)] -> Result<Text, FsError>;

        // ---- long operations in bounded steps ----
        /// fsck a bounded step at a time, other clients' requests (writes
        /// too) served between steps: `restart` starts this client's run
        /// (dropping any run in progress: the service keeps one) over a
        /// pinned view of the store, else the step continues this client's
        /// run (`NoFsckRun` when it is gone). Call until `done`; the last
        /// step answers `fsck`'s report.
        fn fsck_step = 55 (restart: bool) [1 out: Write(TEXT_MAX)]
            -> Result<FsckStepped, FsError>;
        /// `registry_gc` a bounded step at a time (a repository or a page
        /// of blobs), other clients' requests served between steps; what
        /// they push or link meanwhile is kept. `restart` starts this
        /// client's run with `dry_run` and `grace_secs` (dropping any run
        /// in progress), else the step continues it (`NoRegistryGcRun`
        /// when it is gone). Call until `done`: the last step answers the
        /// report.
        fn registry_gc_step = 56 (restart: bool, dry_run: bool, grace_secs: u64)
            [1 out: Write(TEXT_MAX)] -> Result<Stepped, FsError>;
        /// `gc` a bounded step at a time (a page of marks, a sweep or free
        /// transaction; the block reach is one step), other clients'
        /// requests, writes too, served between steps: nothing they write
        /// is lost, what they delete goes at the next GC. `restart` starts
        /// this client's run with `dry_run` over a pinned view (ending any
        /// GC run in progress: one runs at a time), else the step continues
        /// it (`NoGcRun` when it is gone). Call until `done`: the last step
        /// answers `gc`'s report.
        fn gc_step = 70 (restart: bool, dry_run: bool) [1 out: Write(TEXT_MAX)]
            -> Result<Stepped, FsError>;

        // ---- snapshots, listed and compared a page at a time ----
        /// `a`, `b` (empty: the live tree), `cursor` (empty: from the
        /// start; else the previous page's cursor): the next page of
        /// changes from `a` to `b`, one per line ("+ path", "- path",
        /// "M path") in the tree's key order (entries added, removed or
        /// replaced, by directory, then files modified, by inode number),
        /// as many whole lines as fit, then the next page's cursor (hex).
        /// Every change appears once over the pages. The service holds
        /// one page and reads in proportion to it, never the whole diff.
        fn snap_diff_page = 75 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<DiffText, FsError>;
        /// `after` (empty: from the first; else the last line of the
        /// previous page, whose first word is a name): the snapshots named
        /// after it, one line each ("<name> logical <n> bytes (taken at
        /// time <t>)", from each snapshot's record: no tree is walked) in
        /// name order, as many whole lines as fit; `needed` > `written`
        /// when more follow: page on from the last line. The service holds
        /// one page. A snapshot's exclusive and shared bytes:
        /// `snap_space_step`.
        fn snaps = 76 () [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<Text, FsError>;

        // ---- a snapshot's space, in bounded steps ----
        /// `name`: the space snapshot `name` holds, a bounded step at a
        /// time, other clients' requests (writes too) served between
        /// steps. Over the distinct chunks the snapshot's files name (each
        /// once, however often named), weighed by their length: stored
        /// bytes; exclusive bytes, of the chunks no other tree (the live
        /// tree, another snapshot) names, what deleting it and running GC
        /// would free; shared bytes, the rest. The trees are those of the
        /// run's start (pinned): changes between steps, the snapshot's
        /// removal included, do not alter the answer. `restart` starts
        /// this client's run (dropping any run in progress: the service
        /// keeps one), else the step continues it (`NoSnapSpaceRun` when it
        /// is gone or was for another name). Each step reads a bounded
        /// number of nodes; memory is two bits per block. Call until
        /// `done`: the last step answers the report, one line.
        fn snap_space_step = 95 (restart: bool) [0 args: Read(ARGS_MAX), 1 out: Write(TEXT_MAX)]
            -> Result<Stepped, FsError>;
    }
}

/// Declares which right each operation needs: [`needed`] and
/// [`op_name`]. Every name must be an operation of [`fs`] (else it does not
/// compile), none may appear twice (an unreachable pattern), and every
/// operation must appear (the host test
/// `every_operation_declares_its_right` dispatches each label).
macro_rules! rights_table {
    ( $( $right:ident : $( $op:ident )|+ ; )* ) => {
        /// The rights the operation labelled `label` needs; `None`: no
        /// such operation (it is not served).
        pub fn needed(label: u64) -> Option<Rights> {
            match label {
                $( $( fs::label::$op )|+ => Some(Rights::$right), )*
                _ => None,
            }
        }

        /// The operation's name in the interface (what a refusal names).
        pub fn op_name(label: u64) -> Option<&'static str> {
            match label {
                $( $( fs::label::$op => Some(stringify!($op)), )+ )*
                _ => None,
            }
        }
    };
}

// The right each operation needs: add a new operation here, under the
// right it needs. `sync` is WRITE: it only makes a writer's own
// acknowledged changes durable sooner; `fsck` is ADMIN: it walks the whole
// store; listings and space figures are READ.
rights_table! {
    READ: stat | list | read | blob_read | blob_stat | blob_linked | manifest_get
        | repos | tags | snaps | snap_diff_page | snap_space_step | df | stats
        | upload_status | uploads | upload_repos | quotas;
    WRITE: create | append | remove | mkdir | rename | truncate
        | put_begin | put_write | put_finish | put_abort
        | blob_put | blob_begin | blob_write | blob_finish | blob_remove
        | manifest_put | manifest_remove
        | upload_start | upload_append | upload_finish | upload_cancel
        | blob_mount | blob_unlink | sync;
    SNAPSHOT: snap_create | snap_restore | snap_remove;
    ADMIN: gc | gc_step | registry_gc | registry_gc_step | fsck | fsck_step | shutdown | quota_set
        | quota_remove;
}

/// Text arguments for lease 0: each followed by a NUL.
pub fn join_args(args: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

/// Lease 0 split into exactly `N` text arguments; `None` if it is not
/// UTF-8, has another number of parts, or lacks the last NUL.
pub fn split_args<const N: usize>(bytes: &[u8]) -> Option<[&str; N]> {
    let text = core::str::from_utf8(bytes).ok()?.strip_suffix('\0')?;
    let mut out = [""; N];
    let mut parts = text.split('\0');
    for slot in out.iter_mut() {
        *slot = parts.next()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip_and_refuse_other_counts() {
        let joined = join_args(&["library/alpine", "sha256:00"]);
        assert_eq!(
            split_args::<2>(&joined),
            Some(["library/alpine", "sha256:00"])
        );
        assert_eq!(split_args::<3>(&joined), None);
        assert_eq!(split_args::<1>(&joined), None);
        assert_eq!(split_args::<1>(&[0xff, 0xfe, 0]), None);
        // Empty arguments are arguments; the lease itself never is empty.
        assert_eq!(join_args(&["", ""]), vec![0, 0]);
        assert_eq!(split_args::<2>(&join_args(&["", ""])), Some(["", ""]));
        assert_eq!(split_args::<1>(b"no terminator"), None);
    }
}
