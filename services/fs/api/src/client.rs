//! [`FsClient`]: the service's client over the `fs` stubs. It joins the
//! text arguments into lease 0, turns the typed replies into the values
//! callers use, and keeps the arguments of a failed call in its [`Error`],
//! so the message names the path or name the caller sent. Generic over the
//! transport, so it runs on the host.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use abi::iface::{CallError, Transport};

use crate::{describe, fs as stub, join_args, FsError};

pub use crate::Stat;

/// Why a call failed: the service's typed error (or a refusal, or the
/// kernel's error), with the text arguments the call sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub error: CallError<FsError>,
    args: Vec<String>,
}

impl Error {
    /// The service's own error, if it answered with one.
    pub fn service(&self) -> Option<&FsError> {
        match &self.error {
            CallError::Service(e) => Some(e),
            _ => None,
        }
    }

    /// The call's text arguments, in the declaration's order.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            CallError::Service(e) => describe(e, &self.args, f),
            CallError::Kernel(abi::Error::PeerDead) => {
                f.write_str("filesystem service unreachable: it has stopped (restart the system)")
            }
            CallError::Kernel(e) => write!(f, "filesystem service unreachable ({e:?})"),
            other => write!(f, "{other}"),
        }
    }
}

/// What a call returns.
pub type Result<V> = core::result::Result<V, Error>;

/// A text answer: bytes written into the caller's buffer, and bytes the
/// whole text needs (more than written: it was cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextReply {
    pub written: usize,
    pub needed: usize,
}

impl TextReply {
    fn of(t: crate::Text, out: &[u8]) -> TextReply {
        TextReply {
            written: usize::try_from(t.written).unwrap_or(0).min(out.len()),
            needed: usize::try_from(t.needed).unwrap_or(usize::MAX),
        }
    }
}

/// The transport `FsClient` uses unless told otherwise: the IPC endpoint
/// in the system (the host has none; tests name their fake).
#[cfg(target_os = "none")]
pub type DefaultTransport = userlib::ipc::Endpoint;
#[cfg(not(target_os = "none"))]
pub type DefaultTransport = ();

/// The filesystem service through a transport.
#[derive(Debug, Clone, Copy)]
pub struct FsClient<T = DefaultTransport> {
    stub: stub::Client<T>,
}

#[cfg(target_os = "none")]
impl FsClient<userlib::ipc::Endpoint> {
    /// The service at endpoint capability `slot`.
    pub const fn new(slot: u64) -> Self {
        FsClient::over(userlib::ipc::Endpoint(slot))
    }
}

fn count(n: u64, buf: &[u8]) -> usize {
    usize::try_from(n).unwrap_or(0).min(buf.len())
}

impl<T: Transport> FsClient<T> {
    pub const fn over(transport: T) -> Self {
        FsClient {
            stub: stub::Client::new(transport),
        }
    }

    /// The generated stubs, for the replies' every word.
    pub fn stub(&self) -> &stub::Client<T> {
        &self.stub
    }

    /// Runs `f` with the text arguments in lease 0; a failure keeps them.
    fn with<R>(
        &self,
        args: &[&str],
        f: impl FnOnce(&stub::Client<T>, &[u8]) -> core::result::Result<R, CallError<FsError>>,
    ) -> Result<R> {
        let l0 = join_args(args);
        f(&self.stub, &l0).map_err(|error| Error {
            error,
            args: args.iter().map(|a| a.to_string()).collect(),
        })
    }

    /// A call without text arguments.
    fn bare<R>(&self, r: core::result::Result<R, CallError<FsError>>) -> Result<R> {
        r.map_err(|error| Error {
            error,
            args: Vec::new(),
        })
    }

    // ---- files ----

    pub fn stat(&self, path: &str) -> Result<Stat> {
        self.with(&[path], |s, a| s.stat(a))
    }

    /// Up to `limit` entries of `path` after `after` as "d name"/"f name"
    /// lines in `out`; returns (entries, bytes).
    pub fn list(
        &self,
        path: &str,
        after: &str,
        limit: u64,
        out: &mut [u8],
    ) -> Result<(u64, usize)> {
        let l = self.with(&[path, after], |s, a| s.list(limit, a, out))?;
        Ok((l.entries, count(l.bytes, out)))
    }

    /// Reads from `offset` of file `path`; returns (bytes read, file size).
    pub fn read(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<(usize, u64)> {
        let r = self.with(&[path], |s, a| s.read(offset, a, buf))?;
        Ok((count(r.bytes, buf), r.size))
    }

    pub fn create(&self, path: &str) -> Result<()> {
        self.with(&[path], |s, a| s.create(a))
    }

    /// Appends `data`; returns the new size.
    pub fn append(&self, path: &str, data: &[u8]) -> Result<u64> {
        self.with(&[path], |s, a| s.append(a, data))
    }

    pub fn remove(&self, path: &str, recursive: bool) -> Result<()> {
        self.with(&[path], |s, a| s.remove(recursive, a))
    }

    pub fn mkdir(&self, path: &str) -> Result<()> {
        self.with(&[path], |s, a| s.mkdir(a))
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.with(&[from, to], |s, a| s.rename(a))
    }

    pub fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.with(&[path], |s, a| s.truncate(size, a))
    }

    /// Starts replacing `path`'s contents with `length` bytes (see
    /// [`FsClient::put_write`], [`FsClient::put_finish`]): all or nothing.
    pub fn put_begin(&self, path: &str, length: u64) -> Result<()> {
        self.with(&[path], |s, a| s.put_begin(length, a))
    }

    /// The next bytes of this client's put; returns the bytes received so far.
    pub fn put_write(&self, data: &[u8]) -> Result<u64> {
        self.bare(self.stub.put_write(data))
    }

    /// Switches the put's contents in; returns the file's size.
    pub fn put_finish(&self) -> Result<u64> {
        self.bare(self.stub.put_finish())
    }

    /// Drops this client's put; the file keeps its old contents.
    pub fn put_abort(&self) -> Result<()> {
        self.bare(self.stub.put_abort())
    }

    // ---- blobs ----

    /// Stores a whole blob in one call; returns its size.
    pub fn blob_put(&self, repo: &str, digest: &str, data: &[u8]) -> Result<u64> {
        self.with(&[repo, digest], |s, a| s.blob_put(a, data))
    }

    pub fn blob_begin(&self, repo: &str, digest: &str, length: u64) -> Result<()> {
        self.with(&[repo, digest], |s, a| s.blob_begin(length, a))
    }

    /// Returns the bytes received so far.
    pub fn blob_write(&self, data: &[u8]) -> Result<u64> {
        self.bare(self.stub.blob_write(data))
    }

    pub fn blob_finish(&self) -> Result<u64> {
        self.bare(self.stub.blob_finish())
    }

    /// Reads from `offset` of blob `digest`; returns (bytes, blob size).
    pub fn blob_read(&self, digest: &str, offset: u64, buf: &mut [u8]) -> Result<(usize, u64)> {
        let r = self.with(&[digest], |s, a| s.blob_read(offset, a, buf))?;
        Ok((count(r.bytes, buf), r.size))
    }

    pub fn blob_stat(&self, digest: &str) -> Result<u64> {
        self.with(&[digest], |s, a| s.blob_stat(a))
    }

    pub fn blob_remove(&self, digest: &str) -> Result<()> {
        self.with(&[digest], |s, a| s.blob_remove(a))
    }

    // ---- manifests and the catalog ----

    /// Stores a manifest; returns its digest (`sha256:<hex>`).
    pub fn manifest_put(&self, repo: &str, reference: &str, content: &[u8]) -> Result<String> {
        let hash = self.with(&[repo, reference], |s, a| s.manifest_put(a, content))?;
        let mut text = String::from("sha256:");
        for b in hash {
            text.push_str(&alloc::format!("{b:02x}"));
        }
        Ok(text)
    }

    /// Reads a manifest into `buf`; returns (bytes, manifest size).
    pub fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
        buf: &mut [u8],
    ) -> Result<(usize, u64)> {
        let r = self.with(&[repo, reference], |s, a| s.manifest_get(a, buf))?;
        Ok((count(r.bytes, buf), r.size))
    }

    pub fn manifest_remove(&self, repo: &str, reference: &str) -> Result<()> {
        self.with(&[repo, reference], |s, a| s.manifest_remove(a))
    }

    pub fn repos(&self, out: &mut [u8]) -> Result<TextReply> {
        self.repos_after("", out)
    }

    /// Repository names after `after` (a page: as many lines as `out` holds).
    pub fn repos_after(&self, after: &str, out: &mut [u8]) -> Result<TextReply> {
        let t = self.with(&[after], |s, a| s.repos(a, out))?;
        Ok(TextReply::of(t, out))
    }

    pub fn tags(&self, repo: &str, out: &mut [u8]) -> Result<TextReply> {
        self.tags_after(repo, "", out)
    }

    /// Tags of `repo` after `after` (a page, like [`FsClient::repos_after`]).
    pub fn tags_after(&self, repo: &str, after: &str, out: &mut [u8]) -> Result<TextReply> {
        let t = self.with(&[repo, after], |s, a| s.tags(a, out))?;
        Ok(TextReply::of(t, out))
    }

    // ---- snapshots ----

    pub fn snap_create(&self, name: &str) -> Result<()> {
        self.with(&[name], |s, a| s.snap_create(a))
    }

    /// Snapshots named after the first word of `after` (empty: from the
    /// first): a page, as many whole lines as `out` holds; `needed >
    /// written` when more follow (page on from the last line).
    pub fn snaps_after(&self, after: &str, out: &mut [u8]) -> Result<TextReply> {
        let t = self.with(&[after], |s, a| s.snaps(a, out))?;
        Ok(TextReply::of(t, out))
    }

    /// The next page of changes from snapshot `a` to snapshot `b` (empty:
    /// the live tree) after `cursor` (empty: from the start): the bytes of
    /// whole change lines at the start of `out`, and the next page's
    /// cursor (`None`: the diff is complete).
    pub fn snap_diff_page<'o>(
        &self,
        a: &str,
        b: &str,
        cursor: &str,
        out: &'o mut [u8],
    ) -> Result<(usize, Option<&'o str>)> {
        let t = self.with(&[a, b, cursor], |s, l0| s.snap_diff_page(l0, &mut *out))?;
        let lines = usize::try_from(t.written)
            .unwrap_or(usize::MAX)
            .min(out.len());
        let len = usize::try_from(t.cursor).unwrap_or(usize::MAX);
        if len == 0 {
            return Ok((lines, None));
        }
        // A cursor past the buffer, or not text, is no cursor the service
        // writes: an error, so the listing neither loops nor stops short
        // without saying so.
        let bad = || Error {
            error: CallError::Service(FsError::BufferTooSmall {
                needed: t.written.saturating_add(t.cursor),
                have: out.len() as u64,
            }),
            args: Vec::new(),
        };
        let end = lines.checked_add(len).ok_or_else(bad)?;
        let bytes = out.get(lines..end).ok_or_else(bad)?;
        let next = core::str::from_utf8(bytes).map_err(|_| bad())?;
        Ok((lines, Some(next)))
    }

    /// One step of this client's `snap space` run over snapshot `name`
    /// (`restart`: a new run): the report once done (`Some`), else `None`:
    /// step again with the same name.
    pub fn snap_space_step(
        &self,
        restart: bool,
        name: &str,
        out: &mut [u8],
    ) -> Result<Option<TextReply>> {
        let s = self.with(&[name], |st, a| st.snap_space_step(restart, a, &mut *out))?;
        Ok((s.done != 0).then(|| TextReply::of(s.text, out)))
    }

    pub fn snap_restore(&self, name: &str) -> Result<()> {
        self.with(&[name], |s, a| s.snap_restore(a))
    }

    pub fn snap_remove(&self, name: &str) -> Result<()> {
        self.with(&[name], |s, a| s.snap_remove(a))
    }

    // ---- maintenance ----

    pub fn gc(&self, dry_run: bool, out: &mut [u8]) -> Result<TextReply> {
        let t = self.bare(self.stub.gc(dry_run, out))?;
        Ok(TextReply::of(t, out))
    }

    /// The report; the number of problems is in the stub's full reply.
    pub fn fsck(&self, out: &mut [u8]) -> Result<TextReply> {
        let c = self.bare(self.stub.fsck(out))?;
        Ok(TextReply::of(c.text, out))
    }

    /// One step of this client's fsck run (`restart`: a new run): the
    /// report once the run is done (`Some`), else `None`: step again.
    pub fn fsck_step(&self, restart: bool, out: &mut [u8]) -> Result<Option<TextReply>> {
        let s = self.bare(self.stub.fsck_step(restart, out))?;
        Ok((s.done != 0).then(|| TextReply::of(s.checked.text, out)))
    }

    /// One step of this client's chunk GC run (`restart`: a new run with
    /// `dry_run`): the report once done (`Some`), else `None`: step again.
    pub fn gc_step(
        &self,
        restart: bool,
        dry_run: bool,
        out: &mut [u8],
    ) -> Result<Option<TextReply>> {
        let s = self.bare(self.stub.gc_step(restart, dry_run, out))?;
        Ok((s.done != 0).then(|| TextReply::of(s.text, out)))
    }

    /// One step of this client's registry GC run (`restart`: a new run
    /// with `dry_run` and `grace_secs`): the report once done (`Some`).
    pub fn registry_gc_step(
        &self,
        restart: bool,
        dry_run: bool,
        grace_secs: u64,
        out: &mut [u8],
    ) -> Result<Option<TextReply>> {
        let s = self.bare(
            self.stub
                .registry_gc_step(restart, dry_run, grace_secs, out),
        )?;
        Ok((s.done != 0).then(|| TextReply::of(s.text, out)))
    }

    pub fn df(&self, out: &mut [u8]) -> Result<TextReply> {
        let s = self.bare(self.stub.df(out))?;
        Ok(TextReply::of(s.text, out))
    }

    pub fn stats(&self, out: &mut [u8]) -> Result<TextReply> {
        let t = self.bare(self.stub.stats(out))?;
        Ok(TextReply::of(t, out))
    }

    pub fn sync(&self) -> Result<()> {
        self.bare(self.stub.sync())
    }

    pub fn shutdown(&self) -> Result<()> {
        self.bare(self.stub.shutdown())
    }

    // ---- resumable upload sessions and repository-scoped blob calls ----

    /// Starts an upload session in `repo`; returns its id.
    pub fn upload_start(&self, repo: &str) -> Result<u64> {
        self.with(&[repo], |s, a| s.upload_start(a))
    }

    /// Appends `data` at `offset`; durable when it returns the new size.
    /// `FsError::WrongOffset` when `offset` is not the session's size.
    pub fn upload_append(&self, repo: &str, id: u64, offset: u64, data: &[u8]) -> Result<u64> {
        self.with(&[repo], |s, a| s.upload_append(id, offset, a, data))
    }

    /// The bytes the session holds.
    pub fn upload_status(&self, repo: &str, id: u64) -> Result<u64> {
        self.with(&[repo], |s, a| s.upload_status(id, a))
    }

    /// Verifies the session against `digest`, stores and links the blob;
    /// returns its size.
    pub fn upload_finish(&self, repo: &str, id: u64, digest: &str) -> Result<u64> {
        self.with(&[repo, digest], |s, a| s.upload_finish(id, a))
    }

    pub fn upload_cancel(&self, repo: &str, id: u64) -> Result<()> {
        self.with(&[repo], |s, a| s.upload_cancel(id, a))
    }

    /// Links blob `digest`, which `from` holds, into `repo`; returns its size.
    pub fn blob_mount(&self, repo: &str, from: &str, digest: &str) -> Result<u64> {
        self.with(&[repo, from, digest], |s, a| s.blob_mount(a))
    }

    /// The size of blob `digest` if it is stored and linked into `repo`.
    pub fn blob_linked(&self, repo: &str, digest: &str) -> Result<u64> {
        self.with(&[repo, digest], |s, a| s.blob_linked(a))
    }

    /// Removes `repo`'s link to blob `digest`.
    pub fn blob_unlink(&self, repo: &str, digest: &str) -> Result<()> {
        self.with(&[repo, digest], |s, a| s.blob_unlink(a))
    }

    /// `repo`'s open upload sessions after line `after` (empty: from the
    /// start): a page, as many whole lines as `out` holds.
    pub fn uploads_after(&self, repo: &str, after: &str, out: &mut [u8]) -> Result<TextReply> {
        let t = self.with(&[repo, after], |s, a| s.uploads(a, out))?;
        Ok(TextReply::of(t, out))
    }

    /// Names of the repositories holding upload sessions after `after` (a
    /// page, like [`FsClient::repos_after`]); they may have no layers yet.
    pub fn upload_repos_after(&self, after: &str, out: &mut [u8]) -> Result<TextReply> {
        let t = self.with(&[after], |s, a| s.upload_repos(a, out))?;
        Ok(TextReply::of(t, out))
    }

    // ---- quotas ----

    /// Sets the limit on repository `name` (`repo`) or on the top-level
    /// directory `name` (`/top`) to `limit` bytes.
    pub fn quota_set(&self, repo: bool, name: &str, limit: u64) -> Result<()> {
        self.with(&[name], |s, a| s.quota_set(repo, limit, a))
    }

    /// Removes the limit on repository or directory `name`.
    pub fn quota_remove(&self, repo: bool, name: &str) -> Result<()> {
        self.with(&[name], |s, a| s.quota_remove(repo, a))
    }

    /// Every limit with its usage, one line each (`dir /top <limit>
    /// <used>`, `repo <name> <limit> <used>`), written into `out`.
    pub fn quotas(&self, out: &mut [u8]) -> Result<TextReply> {
        let t = self.bare(self.stub.quotas(out))?;
        Ok(TextReply::of(t, out))
    }

    /// Registry GC; the report is written into `out`.
    pub fn registry_gc(&self, dry_run: bool, grace_secs: u64, out: &mut [u8]) -> Result<TextReply> {
        let t = self.bare(self.stub.registry_gc(dry_run, grace_secs, out))?;
        Ok(TextReply::of(t, out))
    }
}
