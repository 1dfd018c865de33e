//! The filesystem/registry service's IPC protocol and client stubs.
//!
//! # Design principles
//! - One protocol enum ([`FsRequest`]); every argument that is text (paths,
//!   names, digests, references) travels in lease 0 as UTF-8, several of
//!   them separated by NUL ([`join_args`] / [`split_args`]): NUL is in no
//!   valid path, name or digest.
//! - Bulk data travels in lease 1, in either direction, of any size: the
//!   service moves it in bounded pieces ([`PIECE`]), so a blob of any size
//!   streams with bounded memory in every process.
//! - A failed call answers with a status ([`status`]); the words of the
//!   reply cannot hold the message, so the service keeps it per client and
//!   [`FsRequest::LastError`] fetches it: errors name the values seen.
//! - Uploads and blob reads that span several calls are per-client state in
//!   the service, keyed by the caller's badge (which the kernel vouches for).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(target_os = "none")]
pub mod client;

use abi::protocol;
use alloc::vec::Vec;

protocol! {
    /// Requests to the filesystem/registry service. `L0` = lease 0 (text
    /// arguments, read), `L1` = lease 1 (data: read for writes, write for
    /// reads and text results). Replies to text results are
    /// `[bytes written, bytes the full text needs]`.
    pub enum FsRequest {
        /// L0 path. Replies `[kind (0 file, 1 dir), size, ino, mtime, mode]`.
        Stat = 1 {},
        /// L0 "path\0after" (after may be empty), L1 out: `limit` entries as
        /// lines "d name" / "f name". Replies `[entries, bytes, 0]`.
        List = 2 { limit: u64 },
        /// L0 path, L1 out: bytes from `offset`. Replies `[bytes, file size]`.
        Read = 3 { offset: u64 },
        /// L0 path: creates the file (and its parents) or empties it. To
        /// replace contents, use `PutBegin`/`PutWrite`/`PutFinish`: a crash
        /// between `Create` and the last `Append` leaves a prefix.
        Create = 4 {},
        /// L0 path, L1 data: appended (one transaction). Replies `[new size]`.
        Append = 5 {},
        /// L0 path: removes a file or an empty directory (`recursive`: a tree).
        Remove = 6 { recursive: bool },
        /// L0 path: creates the directory and its parents.
        Mkdir = 7 {},
        /// L0 "from\0to".
        Rename = 8 {},
        /// L0 path.
        Truncate = 9 { size: u64 },
        /// L0 "repo\0digest", L1 the whole blob: verified and stored in one
        /// call (streamed through the service). Replies `[size]`.
        BlobPut = 10 {},
        /// L0 "repo\0digest": starts this client's upload of `length` bytes
        /// (an earlier unfinished one is dropped).
        BlobBegin = 11 { length: u64 },
        /// L1 data: the next bytes of this client's upload. Replies `[received]`.
        BlobWrite = 12 {},
        /// Verifies the upload against its digest, stores and links the
        /// blob. Replies `[size]`.
        BlobFinish = 13 {},
        /// L0 digest, L1 out: blob bytes from `offset`; the digest is
        /// verified when a client's sequential reads reach the end.
        /// Replies `[bytes, blob size]`.
        BlobRead = 14 { offset: u64 },
        /// L0 digest. Replies `[size]`.
        BlobStat = 15 {},
        /// L0 digest.
        BlobRemove = 16 {},
        /// L0 "repo\0reference", L1 the manifest. Its sha256 digest is
        /// computed here; L1 out is not used: the digest is the result text
        /// fetched with `LastText`. Replies `[digest text length]`.
        ManifestPut = 17 {},
        /// L0 "repo\0reference", L1 out. Replies `[bytes, manifest size]`.
        ManifestGet = 18 {},
        /// L0 "repo\0reference".
        ManifestRemove = 19 {},
        /// L0 after (may be empty), L1 out: repository names after it in
        /// path order, one per line, as many whole lines as fit. Replies
        /// `[bytes, bytes all names after it need]`: page on from the last
        /// line. The service holds one page of names, never the list.
        Repos = 20 {},
        /// L0 "repo\0after" (after optional), L1 out: tags after it, one per
        /// line, paged like `Repos`.
        Tags = 21 {},
        /// L0 name.
        SnapCreate = 22 {},
        /// L1 out: one line per snapshot.
        SnapList = 23 {},
        /// L0 "a\0b" (b empty: the live tree), L1 out: one change per line.
        SnapDiff = 24 {},
        /// L0 name.
        SnapRestore = 25 {},
        /// L0 name.
        SnapRemove = 26 {},
        /// L1 out: the collection's report.
        Gc = 27 { dry_run: bool },
        /// L1 out: the report. Replies `[bytes, needed, problems]`.
        Fsck = 28 {},
        /// L1 out: space figures. Replies `[bytes, needed, logical bytes,
        /// chunk bytes, physical bytes, free bytes]`.
        Df = 29 {},
        /// L1 out: cache, journal, I/O counts and recent events.
        Stats = 30 {},
        /// Makes every operation so far durable.
        Sync = 31 {},
        /// Sync, then the block service writes everything home: before poweroff.
        Shutdown = 32 {},
        /// L1 out: the message of this client's last failed call, or the
        /// text result of its last `ManifestPut`.
        LastText = 33 {},
        /// L0 path: starts this client's put of `length` bytes, which will
        /// replace the file's contents all or nothing (an earlier
        /// unfinished put of this client is dropped). Fails at once if the
        /// path cannot become a file.
        PutBegin = 34 { length: u64 },
        /// L1 data: the next bytes of this client's put (staged, invisible).
        /// Replies `[received]`.
        PutWrite = 35 {},
        /// Switches the staged contents in at the path in one transaction
        /// (parents created, an existing file replaced). Replies `[size]`.
        PutFinish = 36 {},
        /// Drops this client's put (if any); the file keeps its contents.
        PutAbort = 37 {},
        // ---- Resumable upload sessions (the registry HTTP service) ----
        // A session is `repositories/<repo>/_uploads/<id>/`; it outlives
        // the client's connection, the service and a power cut.
        /// L0 repo: starts a session. Replies `[id]`.
        UploadStart = 40 {},
        /// L0 repo, L1 data: appended at `offset`, which must be the
        /// session's size (else `WRONG_OFFSET`). Durable when it replies
        /// `[new size]`.
        UploadAppend = 41 { id: u64, offset: u64 },
        /// L0 repo. Replies `[size]`.
        UploadStatus = 42 { id: u64 },
        /// L0 "repo\0digest": verifies the session's bytes, stores the blob
        /// and links it into the repository. Replies `[size]`.
        UploadFinish = 43 { id: u64 },
        /// L0 repo: drops the session and its bytes.
        UploadCancel = 44 { id: u64 },
        /// L0 "repo\0from\0digest": links a blob that `from` holds into
        /// `repo` without a byte sent. Replies `[size]`, or `NOT_FOUND`.
        BlobMount = 45 {},
        /// L0 "repo\0digest": `[size]` when the blob is stored and linked
        /// into `repo` (what a registry may serve under that name), else
        /// `NOT_FOUND`.
        BlobLinked = 46 {},
        /// L0 "repo\0digest": removes the repository's link to the blob
        /// (the blob itself stays for other repositories and GC).
        BlobUnlink = 47 {},
        /// Registry GC (`garbage-collect --delete-untagged`): untagged
        /// manifests, blobs no manifest names and idle upload sessions go,
        /// whatever was written in the last `grace_secs` stays; then the
        /// chunk GC. L1 out: the report.
        RegistryGc = 48 { dry_run: bool, grace_secs: u64 },
    }
}

/// Bytes the service moves per step between a lease and the filesystem.
pub const PIECE: usize = 1024 * 1024;

/// Longest length one put, append, blob put or upload append may announce
/// (the service also refuses more than the disk has free). Set at build
/// time: one system-wide value, not per client.
pub const REQUEST_MAX: u64 = 1 << 40;
/// Largest manifest accepted (the registry library's limit).
pub const MANIFEST_MAX: usize = 4 << 20;

/// Reply statuses (the reply label) of failed calls.
pub mod status {
    pub const NOT_FOUND: u64 = 1;
    pub const EXISTS: u64 = 2;
    pub const NOT_A_DIRECTORY: u64 = 3;
    pub const IS_A_DIRECTORY: u64 = 4;
    pub const NOT_EMPTY: u64 = 5;
    /// A path, name, tag, digest or reference that the grammar refuses.
    pub const INVALID: u64 = 6;
    pub const NO_SPACE: u64 = 7;
    /// The bytes do not hash to the digest they came with.
    pub const DIGEST_MISMATCH: u64 = 8;
    /// Something on the disk failed its checks.
    pub const CORRUPT: u64 = 9;
    /// The block layer or the device failed.
    pub const IO: u64 = 10;
    pub const TOO_LARGE: u64 = 11;
    /// `BlobWrite`/`BlobFinish` without `BlobBegin` (or `PutWrite`/`PutFinish`
    /// without `PutBegin`), more bytes than announced, or a put abandoned
    /// by a snapshot restore.
    pub const NO_UPLOAD: u64 = 12;
    /// The request did not decode, or its text arguments are not UTF-8.
    pub const BAD_REQUEST: u64 = 13;
    /// A lease is missing, too short, or lacks the permission needed.
    pub const BAD_LEASE: u64 = 14;
    /// The service could not mount the filesystem.
    pub const UNAVAILABLE: u64 = 15;
    /// `UploadAppend` at an offset other than the session's size.
    pub const WRONG_OFFSET: u64 = 16;
}

/// The registry GC's default grace period: an hour, as a push takes
/// minutes between its first layer and its manifest.
pub const REGISTRY_GC_GRACE_SECS: u64 = 3600;

/// Entry kinds in `Stat` replies.
pub const KIND_FILE: u64 = 0;
pub const KIND_DIR: u64 = 1;

/// Text arguments joined for lease 0.
pub fn join_args(args: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(a.as_bytes());
    }
    out
}

/// Lease 0 split into exactly `N` text arguments (missing ones are empty);
/// `None` if it is not UTF-8 or has more than `N` parts.
pub fn split_args<const N: usize>(bytes: &[u8]) -> Option<[&str; N]> {
    let text = core::str::from_utf8(bytes).ok()?;
    let mut out = [""; N];
    let mut parts = text.split('\0');
    for slot in out.iter_mut() {
        match parts.next() {
            Some(p) => *slot = p,
            None => break,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::proto::Wire;

    #[test]
    fn args_round_trip_and_refuse_extra_parts() {
        let joined = join_args(&["library/alpine", "sha256:00"]);
        assert_eq!(
            split_args::<2>(&joined),
            Some(["library/alpine", "sha256:00"])
        );
        assert_eq!(
            split_args::<3>(&joined),
            Some(["library/alpine", "sha256:00", ""])
        );
        assert_eq!(split_args::<1>(&joined), None);
        assert_eq!(split_args::<1>(&[0xff, 0xfe]), None);
        assert_eq!(split_args::<2>(b""), Some(["", ""]));
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            FsRequest::Read { offset: 1 << 40 },
            FsRequest::Remove { recursive: true },
            FsRequest::Gc { dry_run: false },
            FsRequest::BlobBegin { length: 5 },
            FsRequest::PutBegin { length: 1 << 33 },
            FsRequest::PutWrite {},
            FsRequest::PutFinish {},
            FsRequest::LastText {},
            FsRequest::UploadAppend {
                id: u64::MAX,
                offset: 1 << 33,
            },
            FsRequest::UploadFinish { id: 7 },
        ] {
            assert_eq!(FsRequest::decode(&r.to_message()), Ok(r));
        }
    }
}
