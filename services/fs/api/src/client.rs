//! Client stubs: one method per request, leases made from the caller's
//! buffers, failures turned into [`FsError`] with the service's message.

use alloc::string::String;
use core::fmt;

use abi::proto::Wire;
use abi::{lease, Lease, Message};
use userlib::sys;

use crate::{join_args, FsRequest};

mod uploads;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// The service could not be reached or died (kernel error).
    Unreachable(abi::Error),
    /// The service refused: `status` (see [`crate::status`]) and its message.
    Service { status: u64, message: String },
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Unreachable(e) => write!(f, "filesystem service unreachable ({e:?})"),
            FsError::Service { message, status } if message.is_empty() => {
                write!(f, "filesystem service error {status}")
            }
            FsError::Service { message, .. } => write!(f, "{message}"),
        }
    }
}

/// Metadata returned by `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub is_dir: bool,
    pub size: u64,
    pub ino: u64,
    pub mtime: u64,
    pub mode: u64,
}

/// The filesystem service through endpoint capability `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsClient {
    slot: u64,
}

fn lend(data: &[u8]) -> Lease {
    Lease {
        addr: data.as_ptr() as u64,
        len: data.len() as u64,
        flags: lease::READ,
    }
}

fn lend_mut(buf: &mut [u8]) -> Lease {
    Lease {
        addr: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        flags: lease::READ | lease::WRITE,
    }
}

/// A text result: bytes written into the caller's buffer, bytes the whole
/// text needs (more than written: it was cut), and the reply's other words.
#[derive(Debug, Clone, Copy)]
pub struct TextReply {
    pub written: usize,
    pub needed: usize,
    pub words: [u64; 6],
}

impl FsClient {
    pub const fn new(slot: u64) -> FsClient {
        FsClient { slot }
    }

    fn raw(&self, request: FsRequest, l0: &[u8], l1: Option<Lease>) -> Result<Message, FsError> {
        let mut msg = request.to_message();
        if !l0.is_empty() {
            msg.leases[0] = lend(l0);
        }
        if let Some(l) = l1 {
            msg.leases[1] = l;
        }
        let mut reply = Message::default();
        sys::call(self.slot, &msg, &mut reply).map_err(FsError::Unreachable)?;
        Ok(reply)
    }

    /// One call; on a service error, fetches its message.
    fn call(&self, request: FsRequest, l0: &[u8], l1: Option<Lease>) -> Result<[u64; 6], FsError> {
        let reply = self.raw(request, l0, l1)?;
        if reply.label == 0 {
            return Ok(reply.words);
        }
        Err(FsError::Service {
            status: reply.label,
            message: self.last_text(),
        })
    }

    /// The message of this client's last failure (or last text result).
    pub fn last_text(&self) -> String {
        let mut buf = [0u8; 512];
        match self.raw(FsRequest::LastText {}, &[], Some(lend_mut(&mut buf))) {
            Ok(r) if r.label == 0 => {
                let n = usize::try_from(r.words[0]).unwrap_or(0).min(buf.len());
                String::from_utf8_lossy(&buf[..n]).into_owned()
            }
            _ => String::new(),
        }
    }

    fn text(
        &self,
        request: FsRequest,
        args: &[&str],
        out: &mut [u8],
    ) -> Result<TextReply, FsError> {
        let l0 = join_args(args);
        let words = self.call(request, &l0, Some(lend_mut(out)))?;
        Ok(TextReply {
            written: usize::try_from(words[0]).unwrap_or(0).min(out.len()),
            needed: usize::try_from(words[1]).unwrap_or(usize::MAX),
            words,
        })
    }

    fn simple(&self, request: FsRequest, args: &[&str]) -> Result<[u64; 6], FsError> {
        self.call(request, &join_args(args), None)
    }

    // ---- files ----

    pub fn stat(&self, path: &str) -> Result<Stat, FsError> {
        let w = self.simple(FsRequest::Stat {}, &[path])?;
        Ok(Stat {
            is_dir: w[0] == crate::KIND_DIR,
            size: w[1],
            ino: w[2],
            mtime: w[3],
            mode: w[4],
        })
    }

    /// Up to `limit` entries of `path` after `after` as "d name"/"f name"
    /// lines in `out`; returns (entries, bytes).
    pub fn list(
        &self,
        path: &str,
        after: &str,
        limit: u64,
        out: &mut [u8],
    ) -> Result<(u64, usize), FsError> {
        let r = self.text(FsRequest::List { limit }, &[path, after], out)?;
        Ok((
            r.words[0],
            usize::try_from(r.words[1]).unwrap_or(0).min(out.len()),
        ))
    }

    /// Reads from `offset` of file `path`; returns (bytes read, file size).
    pub fn read(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<(usize, u64), FsError> {
        let w = self.call(
            FsRequest::Read { offset },
            path.as_bytes(),
            Some(lend_mut(buf)),
        )?;
        Ok((usize::try_from(w[0]).unwrap_or(0).min(buf.len()), w[1]))
    }

    pub fn create(&self, path: &str) -> Result<(), FsError> {
        self.simple(FsRequest::Create {}, &[path]).map(|_| ())
    }

    /// Appends `data`; returns the new size.
    pub fn append(&self, path: &str, data: &[u8]) -> Result<u64, FsError> {
        self.call(FsRequest::Append {}, path.as_bytes(), Some(lend(data)))
            .map(|w| w[0])
    }

    pub fn remove(&self, path: &str, recursive: bool) -> Result<(), FsError> {
        self.simple(FsRequest::Remove { recursive }, &[path])
            .map(|_| ())
    }

    pub fn mkdir(&self, path: &str) -> Result<(), FsError> {
        self.simple(FsRequest::Mkdir {}, &[path]).map(|_| ())
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        self.simple(FsRequest::Rename {}, &[from, to]).map(|_| ())
    }

    pub fn truncate(&self, path: &str, size: u64) -> Result<(), FsError> {
        self.simple(FsRequest::Truncate { size }, &[path])
            .map(|_| ())
    }

    /// Starts replacing `path`'s contents with `length` bytes (see
    /// [`FsClient::put_write`], [`FsClient::put_finish`]): all or nothing.
    pub fn put_begin(&self, path: &str, length: u64) -> Result<(), FsError> {
        self.simple(FsRequest::PutBegin { length }, &[path])
            .map(|_| ())
    }

    /// The next bytes of this client's put; returns the bytes received so far.
    pub fn put_write(&self, data: &[u8]) -> Result<u64, FsError> {
        self.call(FsRequest::PutWrite {}, &[], Some(lend(data)))
            .map(|w| w[0])
    }

    /// Switches the put's contents in; returns the file's size.
    pub fn put_finish(&self) -> Result<u64, FsError> {
        self.simple(FsRequest::PutFinish {}, &[]).map(|w| w[0])
    }

    /// Drops this client's put; the file keeps its old contents.
    pub fn put_abort(&self) -> Result<(), FsError> {
        self.simple(FsRequest::PutAbort {}, &[]).map(|_| ())
    }

    // ---- blobs ----

    /// Stores a whole blob in one call; returns its size.
    pub fn blob_put(&self, repo: &str, digest: &str, data: &[u8]) -> Result<u64, FsError> {
        let l0 = join_args(&[repo, digest]);
        self.call(FsRequest::BlobPut {}, &l0, Some(lend(data)))
            .map(|w| w[0])
    }

    pub fn blob_begin(&self, repo: &str, digest: &str, length: u64) -> Result<(), FsError> {
        self.simple(FsRequest::BlobBegin { length }, &[repo, digest])
            .map(|_| ())
    }

    /// Returns the bytes received so far.
    pub fn blob_write(&self, data: &[u8]) -> Result<u64, FsError> {
        self.call(FsRequest::BlobWrite {}, &[], Some(lend(data)))
            .map(|w| w[0])
    }

    pub fn blob_finish(&self) -> Result<u64, FsError> {
        self.simple(FsRequest::BlobFinish {}, &[]).map(|w| w[0])
    }

    /// Reads from `offset` of blob `digest`; returns (bytes, blob size).
    pub fn blob_read(
        &self,
        digest: &str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(usize, u64), FsError> {
        let w = self.call(
            FsRequest::BlobRead { offset },
            digest.as_bytes(),
            Some(lend_mut(buf)),
        )?;
        Ok((usize::try_from(w[0]).unwrap_or(0).min(buf.len()), w[1]))
    }

    pub fn blob_stat(&self, digest: &str) -> Result<u64, FsError> {
        self.simple(FsRequest::BlobStat {}, &[digest]).map(|w| w[0])
    }

    pub fn blob_remove(&self, digest: &str) -> Result<(), FsError> {
        self.simple(FsRequest::BlobRemove {}, &[digest]).map(|_| ())
    }

    // ---- manifests and the catalog ----

    /// Stores a manifest; returns its digest.
    pub fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        content: &[u8],
    ) -> Result<String, FsError> {
        let l0 = join_args(&[repo, reference]);
        self.call(FsRequest::ManifestPut {}, &l0, Some(lend(content)))?;
        Ok(self.last_text())
    }

    /// Reads a manifest into `buf`; returns (bytes, manifest size).
    pub fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
        buf: &mut [u8],
    ) -> Result<(usize, u64), FsError> {
        let l0 = join_args(&[repo, reference]);
        let w = self.call(FsRequest::ManifestGet {}, &l0, Some(lend_mut(buf)))?;
        Ok((usize::try_from(w[0]).unwrap_or(0).min(buf.len()), w[1]))
    }

    pub fn manifest_remove(&self, repo: &str, reference: &str) -> Result<(), FsError> {
        self.simple(FsRequest::ManifestRemove {}, &[repo, reference])
            .map(|_| ())
    }

    pub fn repos(&self, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Repos {}, &[], out)
    }

    /// Repository names after `after` (a page: as many lines as `out` holds).
    pub fn repos_after(&self, after: &str, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Repos {}, &[after], out)
    }

    pub fn tags(&self, repo: &str, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Tags {}, &[repo], out)
    }

    /// Tags of `repo` after `after` (a page, like [`FsClient::repos_after`]).
    pub fn tags_after(
        &self,
        repo: &str,
        after: &str,
        out: &mut [u8],
    ) -> Result<TextReply, FsError> {
        self.text(FsRequest::Tags {}, &[repo, after], out)
    }

    // ---- snapshots ----

    pub fn snap_create(&self, name: &str) -> Result<(), FsError> {
        self.simple(FsRequest::SnapCreate {}, &[name]).map(|_| ())
    }

    pub fn snap_list(&self, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::SnapList {}, &[], out)
    }

    /// Changes from snapshot `a` to snapshot `b` (empty: the live tree).
    pub fn snap_diff(&self, a: &str, b: &str, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::SnapDiff {}, &[a, b], out)
    }

    pub fn snap_restore(&self, name: &str) -> Result<(), FsError> {
        self.simple(FsRequest::SnapRestore {}, &[name]).map(|_| ())
    }

    pub fn snap_remove(&self, name: &str) -> Result<(), FsError> {
        self.simple(FsRequest::SnapRemove {}, &[name]).map(|_| ())
    }

    // ---- maintenance ----

    pub fn gc(&self, dry_run: bool, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Gc { dry_run }, &[], out)
    }

    /// `words[2]` of the reply is the number of problems found.
    pub fn fsck(&self, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Fsck {}, &[], out)
    }

    pub fn df(&self, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Df {}, &[], out)
    }

    pub fn stats(&self, out: &mut [u8]) -> Result<TextReply, FsError> {
        self.text(FsRequest::Stats {}, &[], out)
    }

    pub fn sync(&self) -> Result<(), FsError> {
        self.simple(FsRequest::Sync {}, &[]).map(|_| ())
    }

    pub fn shutdown(&self) -> Result<(), FsError> {
        self.simple(FsRequest::Shutdown {}, &[]).map(|_| ())
    }
}
