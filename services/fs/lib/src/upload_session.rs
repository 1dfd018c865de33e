//! Resumable upload sessions: the registry HTTP service's chunked uploads
//! (`POST` → `PATCH`… → `PUT ?digest=`), which outlive a connection, a
//! service restart and a power cut.
//!
//! A session is the upload directory `_uploads/<id>/` of [`crate::layout`]
//! (the reference registry's place for it): `data` holds the bytes received
//! so far and `startedat` the time it began. Nothing else is persisted:
//! the running hash is kept in memory by the caller as an [`Upload`] and is
//! rebuilt by [`Registry::resume_upload`], which hashes `data` again, when
//! the caller has lost it (a restart, an evicted cache entry).
//!
//! # Write once, and one tail rewrite per `PATCH`
//! The pieces of one `PATCH` go through the upload's open chunk stream
//! (`crate::stream`): each byte is chunked, hashed and written once, and
//! only the chunks the pieces complete are stored as they come. A `PATCH`
//! must be durable when it answers, so [`Registry::sync_upload`] stores the
//! stream's unfinished chunk (cut by the end of the data so far) before the
//! flush; the next `PATCH` reads that one chunk back and chunks it again
//! with its own bytes, so the blob's chunks are still those of one write.
//! That costs one chunk (64 KiB on average) rewritten per `PATCH`, not per
//! piece: the price of answering "durable" in the middle of a chunk.
//!
//! # Guarantees
//! - [`Registry::append_durable`] and [`Registry::sync_upload`] return
//!   after the bytes are durable: a client told "202, Range: 0-N" finds at
//!   least N+1 bytes after any crash.
//! - An append at an offset other than the session's size is refused
//!   ([`SessionError::WrongOffset`] with the size), and nothing is written:
//!   a client resumes from the size the status call reports.
//! - Finishing is [`Registry::finish_upload`]: verified against the digest,
//!   then one rename into `blobs/`.

use alloc::string::String;
use alloc::vec;

use block::Transactional;

use crate::chunks::Chunks;
use crate::digest::Hasher;
use crate::fs::Fs;
use crate::layout;
use crate::names::{Algorithm, RepoName};
use crate::records::Kind;
use crate::registry::{Registry, RegistryError, Upload};
use crate::stream::AppendStream;

/// Why a session operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The append was sent for `offset`, but the session holds `size` bytes.
    WrongOffset {
        offset: u64,
        size: u64,
    },
    Registry(RegistryError),
}

impl From<RegistryError> for SessionError {
    fn from(e: RegistryError) -> Self {
        SessionError::Registry(e)
    }
}

impl From<crate::error::FsError> for SessionError {
    fn from(e: crate::error::FsError) -> Self {
        SessionError::Registry(e.into())
    }
}

/// An upload id as the text in its path: 16 lower-case hex digits.
pub fn upload_id_text(id: u64) -> String {
    alloc::format!("{id:016x}")
}

/// The id back from its text; `None` unless it is 16 hex digits.
pub fn parse_upload_id(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Reopens session `id` of `repo` from its `data` file, hashing what it
    /// holds with `algorithm` (memory: one 64 KiB buffer).
    pub fn resume_upload(
        &mut self,
        repo: &RepoName,
        id: u64,
        algorithm: Algorithm,
    ) -> Result<Upload, RegistryError> {
        let id_text = upload_id_text(id);
        let path = layout::upload_data(Some(repo), &id_text);
        let fs: &mut Fs<T, C> = self.fs();
        let m = match fs.stat(&path) {
            Ok(m) if m.kind == Kind::File => m,
            Ok(_) | Err(crate::error::FsError::NotFound { .. }) => {
                return Err(RegistryError::NoSuchUpload { id: id_text })
            }
            Err(crate::error::FsError::NotADirectory { .. }) => {
                return Err(RegistryError::NoSuchUpload { id: id_text })
            }
            Err(e) => return Err(e.into()),
        };
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        while pos < m.size {
            let n = fs.read_at(m.ino, pos, &mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        Ok(Upload::from_parts(
            Some(repo.clone()),
            id_text,
            m.ino,
            hasher,
            pos,
        ))
    }

    /// Appends one piece at `offset` (which must be the session's size)
    /// in a batched transaction; returns the new size. A caller streaming
    /// several pieces of one request calls [`Registry::sync_upload`] once
    /// at the end, before it acknowledges. After a failure the session is
    /// rebuilt from its file (what the failed request stored stays, the
    /// rest is gone), so its size is again what the file holds.
    pub fn append_piece(
        &mut self,
        up: &mut Upload,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, SessionError> {
        if offset != up.size() {
            return Err(SessionError::WrongOffset {
                offset,
                size: up.size(),
            });
        }
        if let Err(e) = self.upload_write(up, data) {
            self.reload_upload(up);
            return Err(e.into());
        }
        Ok(up.size())
    }

    /// As [`Registry::append_piece`] of `n` bytes that `fill` writes
    /// straight into the session's step buffer (the service's lease copy
    /// with no buffer between: issue #13). `fill`'s error is the inner one;
    /// nothing of the piece is appended then.
    pub fn append_piece_with<E>(
        &mut self,
        up: &mut Upload,
        offset: u64,
        n: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<u64, E>, SessionError> {
        if offset != up.size() {
            return Err(SessionError::WrongOffset {
                offset,
                size: up.size(),
            });
        }
        match self.upload_write_with(up, n, fill) {
            Ok(Ok(())) => Ok(Ok(up.size())),
            Ok(Err(e)) => Ok(Err(e)),
            Err(e) => {
                self.reload_upload(up);
                Err(e.into())
            }
        }
    }

    /// Rebuilds `up` from its data file after a failed piece; if even that
    /// fails the session stays poisoned (every later append fails; a
    /// restart resumes it from the file).
    fn reload_upload(&mut self, up: &mut Upload) {
        let ino = up.stream.ino();
        let fs: &mut Fs<T, C> = self.fs();
        let Ok(m) = fs.get_inode(ino).map(|i| i.size) else {
            return;
        };
        let mut hasher = Hasher::new(up.algorithm());
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        while pos < m {
            match fs.read_at(ino, pos, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    pos += n as u64;
                }
                Err(_) => return,
            }
        }
        up.reset(hasher, AppendStream::new(ino, pos));
    }

    /// [`Registry::append_piece`], durable before it returns.
    pub fn append_durable(
        &mut self,
        up: &mut Upload,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, SessionError> {
        let size = self.append_piece(up, offset, data)?;
        self.sync_upload(up)?;
        Ok(size)
    }

    /// Makes every byte appended to `up` durable (and every commit so
    /// far): stores the stream's unfinished chunk, then flushes.
    pub fn sync_upload(&mut self, up: &mut Upload) -> Result<(), RegistryError> {
        if up.stream.held() > 0 {
            if let Err(e) = self.upload_step(up, |fs, s, seen| fs.stream_flush_seen(s, seen)) {
                self.reload_upload(up);
                return Err(e);
            }
        }
        Ok(self.fs().sync()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_round_trip_and_reject_other_text() {
        assert_eq!(parse_upload_id(&upload_id_text(0x1234)), Some(0x1234));
        assert_eq!(parse_upload_id(&upload_id_text(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_upload_id("1234"), None);
        assert_eq!(parse_upload_id("../../../etc/pas"), None);
        assert_eq!(parse_upload_id("000000000000000g"), None);
    }
}
