//! Blobs: stored in one call (`blob_put`) or over several calls of one
//! client (`blob_begin`/`blob_write`/`blob_finish`), read, stat'ed and
//! removed by digest. Also the text arguments' parsers for the registry.

use core::sync::atomic::{AtomicU64, Ordering};

use filesystem::layout;
use filesystem::{Digest, Reference, RepoName, Source, SourceError, Upload};
use fs_api::{ArgKind, At, FsError, Read, PIECE};

use super::{mounted, timed_lease, In, Out, Outcome, Service, UploadState};
use crate::errors::{bad_argument, Fail};

/// Bytes this process copied on the data path, for the `counters fs:` line
/// of `stats` (issue #13): in from clients' leases and out to them (reads
/// go from the filesystem's stage straight into the lease: no copy of
/// their own in this process).
pub(super) static LEASE_IN_BYTES: AtomicU64 = AtomicU64::new(0);
pub(super) static LEASE_OUT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Counts `n` bytes into `counter`.
pub(super) fn count(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Text argument `arg` as a repository name.
pub(super) fn parse_repo(s: &str, arg: u64) -> Outcome<RepoName> {
    RepoName::parse(s).map_err(|e| bad_argument(arg, ArgKind::Repository, e.into()))
}

/// Text argument `arg` as a digest.
pub(super) fn parse_digest(s: &str, arg: u64) -> Outcome<Digest> {
    Digest::parse(s).map_err(|e| bad_argument(arg, ArgKind::Digest, e.into()))
}

/// Text argument `arg` as a reference (a tag or a digest).
pub(super) fn parse_reference(s: &str, arg: u64) -> Outcome<Reference> {
    Reference::parse(s).map_err(|e| bad_argument(arg, ArgKind::Reference, e))
}

/// The caller's data lease as a byte source for streaming puts.
struct LeaseSource<'a, 'b> {
    data: &'a In<'b>,
    pos: u64,
}

impl Source for LeaseSource<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let want = (self.data.len() - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = timed_lease(|| self.data.read(self.pos, &mut buf[..want]))
            .map_err(|e| SourceError(alloc::format!("the client's data lease: {e:?}")))?;
        if n == 0 {
            return Err(SourceError(alloc::format!(
                "the client's data lease ended at {} of {} bytes",
                self.pos,
                self.data.len()
            )));
        }
        self.pos += n as u64;
        count(&LEASE_IN_BYTES, n);
        Ok(n)
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.data.len() - self.pos)
    }
}

impl Service {
    pub(super) fn blob_put(&mut self, repo: &str, digest: &str, data: &In<'_>) -> Outcome<u64> {
        let repo = parse_repo(repo, 0)?;
        let d = parse_digest(digest, 1)?;
        let reg = self.reg()?;
        reg.fs().check_request_length("blob put", data.len())?;
        reg.check_blob_quota(Some(&repo), &d, data.len())?;
        let mut src = LeaseSource { data, pos: 0 };
        Ok(reg.put_blob_into(&d, &mut src, Some(&repo))?)
    }

    pub(super) fn blob_begin(
        &mut self,
        badge: u64,
        repo: &str,
        digest: &str,
        length: u64,
    ) -> Outcome<()> {
        let repo = parse_repo(repo, 0)?;
        let digest = parse_digest(digest, 1)?;
        self.drop_upload(badge)?;
        let reg = self.reg()?;
        reg.fs().check_request_length("blob put", length)?;
        // The session's bytes count toward the repository while it is open.
        reg.check_upload_quota(Some(&repo), length)?;
        let mut upload = reg.begin_upload(Some(&repo), digest.algorithm())?;
        // The announced length: the step buffer is taken once (issue #13).
        upload.expect(length);
        self.sessions.entry(badge).or_default().upload = Some(UploadState {
            upload,
            repo,
            digest,
            length,
        });
        Ok(())
    }

    pub(super) fn blob_write(&mut self, badge: u64, data: &In<'_>) -> Outcome<u64> {
        let Some(mut up) = self.sessions.get_mut(&badge).and_then(|s| s.upload.take()) else {
            return Err(FsError::NoUpload {}.into());
        };
        let len = data.len();
        let have = up.upload.size();
        if have.saturating_add(len) > up.length {
            let announced = up.length;
            self.reg()?.abort_upload(up.upload)?;
            return Err(FsError::UploadOverrun {
                more: len,
                have,
                announced,
            }
            .into());
        }
        let step = self.upload_lease(&mut up.upload, data);
        if let Err(e) = step {
            // The client died or the store failed: the upload is dropped.
            if let Ok(reg) = self.reg() {
                let _ = reg.abort_upload(up.upload);
            }
            return Err(e);
        }
        let received = up.upload.size();
        self.sessions.entry(badge).or_default().upload = Some(up);
        Ok(received)
    }

    pub(super) fn blob_finish(&mut self, badge: u64) -> Outcome<u64> {
        let up = self
            .sessions
            .get_mut(&badge)
            .and_then(|s| s.upload.take())
            .ok_or(FsError::NoUpload {})?;
        let reg = self.reg()?;
        let got = up.upload.size();
        if got != up.length {
            reg.abort_upload(up.upload)?;
            return Err(FsError::UploadShort {
                got,
                announced: up.length,
            }
            .into());
        }
        // A mismatch names no argument of this call (the digest came
        // with `blob_begin`): it reads "the content hashes to ...".
        Ok(reg.finish_upload_into(up.upload, &up.digest, Some(&up.repo))?)
    }

    pub(super) fn blob_read(&mut self, digest: &str, offset: u64, out: &Out<'_>) -> Outcome<Read> {
        let d = parse_digest(digest, 0)?;
        let path = layout::blob_data(&d);
        let m = match self.reg()?.fs().stat(&path) {
            Ok(m) if !m.is_dir() => m,
            Ok(_) | Err(filesystem::FsError::NotFound { .. }) => {
                return Err(FsError::BlobNotStored { at: At::arg(0) }.into())
            }
            Err(e) => return Err(e.into()),
        };
        // Chunks are verified (BLAKE3) as they are read; the blob's SHA-256
        // was checked once, at upload (see the invariants in serve.rs).
        let bytes = self.read_file(m.ino, offset, m.size, out)?;
        Ok(Read {
            bytes,
            size: m.size,
        })
    }

    pub(super) fn blob_stat(&mut self, digest: &str) -> Outcome<u64> {
        let d = parse_digest(digest, 0)?;
        self.reg()?
            .blob_size(&d)?
            .ok_or_else(|| FsError::BlobNotStored { at: At::arg(0) }.into())
    }

    pub(super) fn blob_remove(&mut self, digest: &str) -> Outcome<()> {
        let d = parse_digest(digest, 0)?;
        if self.reg()?.delete_blob(&d)? {
            Ok(())
        } else {
            Err(FsError::BlobNotStored { at: At::arg(0) }.into())
        }
    }

    /// Streams lease `data` into `upload` in pieces of at most `PIECE`
    /// bytes, each read from the lease straight into the upload's step
    /// buffer (no copy through `piece`: issue #13).
    pub(super) fn upload_lease(&mut self, upload: &mut Upload, data: &In<'_>) -> Outcome<()> {
        let len = data.len();
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            let reg = mounted(&mut self.reg)?;
            reg.upload_write_with(upload, n, |buf| {
                let got = timed_lease(|| data.read(done, buf)).map_err(|e| FsError::lease(1, e))?;
                if got != n {
                    return Err(Fail::from(FsError::lease(1, abi::Error::BadLease)));
                }
                count(&LEASE_IN_BYTES, got);
                Ok(())
            })??;
            done += n as u64;
        }
        Ok(())
    }

    /// Drops `badge`'s unfinished upload, if any.
    pub(super) fn drop_upload(&mut self, badge: u64) -> Outcome<()> {
        if let Some(up) = self.sessions.get_mut(&badge).and_then(|s| s.upload.take()) {
            self.reg()?.abort_upload(up.upload)?;
        }
        Ok(())
    }
}
