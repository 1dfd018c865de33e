//! Resumable upload sessions and repository-scoped blob calls: what the
//! registry HTTP service needs beyond the shell's one-client uploads.
//!
//! # Invariants
//! - A session's bytes live in `repositories/<repo>/_uploads/<id>/data`;
//!   the running hash is only a cache ([`OpenUploads`], at most
//!   [`OPEN_UPLOADS`] entries), rebuilt from the data by
//!   `Registry::resume_upload` after a restart or an eviction.
//! - An `UploadAppend` is answered only once its bytes are durable.
//! - A cached session is used only for the repository it was opened in.
//! - A session started by a client that dies is cancelled at its death
//!   ([`Owners`], `Service::client_died`), not left to the idle reaper.
//!   Only the fs client that started it counts: the registry HTTP service
//!   is one fs client for all its HTTP clients, and a session it holds
//!   stays while it lives, resumable by id from any HTTP connection (an
//!   HTTP client going away kills nothing here). When the HTTP service
//!   itself dies, its sessions go with it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use filesystem::{upload_id_text, Algorithm, Digest, RepoName, SessionError, Upload};
use fs_api::{Damage, FsError, Text, PIECE};

use super::blobs::{parse_digest, parse_repo};
use super::{mounted, timed_lease, In, Out, Outcome, Service};
use crate::errors::Fail;

/// Sessions one `uploads` page holds.
pub const UPLOADS_PAGE: usize = 256;

/// Sessions whose running hash is kept in memory.
pub const OPEN_UPLOADS: usize = 16;

/// The in-memory half of open sessions, by id.
#[derive(Default)]
pub struct OpenUploads {
    by_id: BTreeMap<u64, (RepoName, Upload)>,
}

impl OpenUploads {
    fn take(&mut self, repo: &RepoName, id: u64) -> Option<Upload> {
        match self.by_id.remove(&id) {
            Some((r, up)) if &r == repo => Some(up),
            Some(other) => {
                self.by_id.insert(id, other);
                None
            }
            None => None,
        }
    }

    fn keep(&mut self, repo: RepoName, id: u64, up: Upload) {
        if self.by_id.len() >= OPEN_UPLOADS {
            // Evicting loses nothing: the data is on disk.
            self.by_id.pop_first();
        }
        self.by_id.insert(id, (repo, up));
    }
}

/// Sessions remembered with their starter, at most; past that the oldest
/// is forgotten (its session is then left to the idle reaper).
pub const OWNED_UPLOADS: usize = 4096;

/// The fs client that started each session this mount (by id), so that
/// its death cancels them.
#[derive(Default)]
pub struct Owners {
    by_id: BTreeMap<u64, (u64, RepoName)>,
}

impl Owners {
    fn add(&mut self, id: u64, client: u64, repo: RepoName) {
        if self.by_id.len() >= OWNED_UPLOADS {
            self.by_id.pop_first();
        }
        self.by_id.insert(id, (client, repo));
    }

    fn forget(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    /// Takes `client`'s sessions.
    fn take_client(&mut self, client: u64) -> Vec<(u64, RepoName)> {
        let ids: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, (c, _))| *c == client)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.by_id.remove(&id).map(|(_, repo)| (id, repo)))
            .collect()
    }
}

fn session_fail(e: SessionError) -> Fail {
    match e {
        SessionError::WrongOffset { offset, size } => {
            Fail::Api(FsError::WrongOffset { offset, size })
        }
        SessionError::Registry(e) => e.into(),
    }
}

impl Service {
    /// Session `id` of `repo` with its running hash in `algorithm`.
    fn open_upload(&mut self, repo: &RepoName, id: u64, algorithm: Algorithm) -> Outcome<Upload> {
        match self.open_uploads.take(repo, id) {
            Some(up) if up.algorithm() == algorithm => Ok(up),
            _ => Ok(self.reg()?.resume_upload(repo, id, algorithm)?),
        }
    }

    /// Cancels the sessions dead `client` started (see the invariants).
    pub(super) fn drop_uploads_of(&mut self, client: u64) {
        let sessions = self.upload_owners.take_client(client);
        if sessions.is_empty() {
            return;
        }
        let mut cancelled = 0usize;
        for (id, repo) in &sessions {
            self.open_uploads.take(repo, *id);
            let Ok(reg) = self.reg() else { return };
            // Finished, cancelled or reaped meanwhile: nothing to do.
            if let Ok(true) = reg.remove_upload(Some(repo), &upload_id_text(*id)) {
                cancelled += 1;
            }
        }
        userlib::println!(
            "fs: client {client} died with {} upload sessions: {cancelled} cancelled",
            sessions.len()
        );
    }

    pub(super) fn upload_start(&mut self, client: u64, repo: &str) -> Outcome<u64> {
        let repo = parse_repo(repo, 0)?;
        let up = self.reg()?.begin_upload(Some(&repo), Algorithm::Sha256)?;
        let id = filesystem::parse_upload_id(up.id()).ok_or(FsError::Damaged {
            what: Damage::UploadId,
            ino: 0,
        })?;
        self.upload_owners.add(id, client, repo.clone());
        self.open_uploads.keep(repo, id, up);
        Ok(id)
    }

    pub(super) fn upload_append(
        &mut self,
        repo: &str,
        id: u64,
        offset: u64,
        data: &In<'_>,
    ) -> Outcome<u64> {
        let repo = parse_repo(repo, 0)?;
        self.reg()?
            .fs()
            .check_request_length("upload append", data.len())?;
        self.reg()?.check_upload_quota(Some(&repo), data.len())?;
        let mut up = self.open_upload(&repo, id, Algorithm::Sha256)?;
        let r = self.append_lease(&mut up, offset, data);
        self.open_uploads.keep(repo, id, up);
        r
    }

    pub(super) fn upload_status(&mut self, repo: &str, id: u64) -> Outcome<u64> {
        let repo = parse_repo(repo, 0)?;
        let up = self.open_upload(&repo, id, Algorithm::Sha256)?;
        let size = up.size();
        self.open_uploads.keep(repo, id, up);
        Ok(size)
    }

    pub(super) fn upload_finish(&mut self, repo: &str, id: u64, digest: &str) -> Outcome<u64> {
        let repo = parse_repo(repo, 0)?;
        let d = parse_digest(digest, 1)?;
        let up = self.open_upload(&repo, id, d.algorithm())?;
        let size = self.reg()?.finish_upload_into(up, &d, Some(&repo))?;
        self.upload_owners.forget(id);
        Ok(size)
    }

    pub(super) fn upload_cancel(&mut self, repo: &str, id: u64) -> Outcome<()> {
        let repo = parse_repo(repo, 0)?;
        self.open_uploads.take(&repo, id);
        self.upload_owners.forget(id);
        if !self
            .reg()?
            .remove_upload(Some(&repo), &upload_id_text(id))?
        {
            return Err(FsError::UploadUnknown { id }.into());
        }
        Ok(())
    }

    /// A page of `repo`'s open sessions after line `after` (empty: from
    /// the start): whole lines as `out` holds, at most [`UPLOADS_PAGE`].
    pub(super) fn uploads(&mut self, repo: &str, after: &str, out: &Out<'_>) -> Outcome<Text> {
        let repo = parse_repo(repo, 0)?;
        let after = match after.split(' ').next().unwrap_or("") {
            "" => None,
            id => Some(filesystem::parse_upload_id(id).ok_or(FsError::BadArguments {})?),
        };
        let now = userlib::sys::unix_time().ok_or(FsError::NoClock {})?;
        let page = self.reg()?.list_uploads_page(&repo, after, UPLOADS_PAGE)?;
        let room = out.len();
        let mut text = String::new();
        let mut needed = 0u64;
        for u in &page {
            let line = alloc::format!(
                "{} {} bytes, idle {} s\n",
                upload_id_text(u.id),
                u.bytes,
                now.saturating_sub(u.mtime)
            );
            if needed == text.len() as u64 && needed + line.len() as u64 <= room {
                text.push_str(&line);
            }
            needed += line.len() as u64;
        }
        if page.len() == UPLOADS_PAGE {
            // A full page: more may follow the last line.
            needed += 1;
        }
        if !text.is_empty() {
            out.write(0, text.as_bytes())
                .map_err(|e| FsError::lease(1, e))?;
        }
        Ok(Text {
            written: text.len() as u64,
            needed,
        })
    }

    pub(super) fn blob_mount(&mut self, repo: &str, from: &str, digest: &str) -> Outcome<u64> {
        let (repo, from) = (parse_repo(repo, 0)?, parse_repo(from, 1)?);
        let d = parse_digest(digest, 2)?;
        let size = self.linked_size(&from, &d)?;
        self.reg()?.link_blob(&repo, &d)?;
        Ok(size)
    }

    pub(super) fn blob_linked(&mut self, repo: &str, digest: &str) -> Outcome<u64> {
        let (repo, d) = (parse_repo(repo, 0)?, parse_digest(digest, 1)?);
        self.linked_size(&repo, &d)
    }

    pub(super) fn blob_unlink(&mut self, repo: &str, digest: &str) -> Outcome<()> {
        let (repo, d) = (parse_repo(repo, 0)?, parse_digest(digest, 1)?);
        if !self.reg()?.unlink_blob(&repo, &d)? {
            return Err(FsError::BlobNotInRepository {}.into());
        }
        Ok(())
    }

    /// The size of blob `d` when it is stored and linked into `repo`.
    fn linked_size(&mut self, repo: &RepoName, d: &Digest) -> Outcome<u64> {
        let reg = self.reg()?;
        match (reg.is_linked(repo, d)?, reg.blob_size(d)?) {
            (true, Some(size)) => Ok(size),
            _ => Err(FsError::BlobNotInRepository {}.into()),
        }
    }

    /// Streams `data` into the session at `offset`, one piece per batched
    /// transaction, then makes it durable.
    fn append_lease(&mut self, up: &mut Upload, offset: u64, data: &In<'_>) -> Outcome<u64> {
        if offset != up.size() {
            return Err(session_fail(SessionError::WrongOffset {
                offset,
                size: up.size(),
            }));
        }
        let len = data.len();
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            let reg = mounted(&mut self.reg)?;
            // Read from the lease straight into the session's step buffer
            // (no copy through `piece`: issue #13).
            reg.append_piece_with(up, offset + done, n, |buf| {
                let got = timed_lease(|| data.read(done, buf)).map_err(|e| FsError::lease(1, e))?;
                if got != n {
                    return Err(Fail::from(FsError::lease(1, abi::Error::BadLease)));
                }
                super::blobs::count(&super::blobs::LEASE_IN_BYTES, got);
                Ok(())
            })
            .map_err(session_fail)??;
            done += n as u64;
        }
        self.reg()?.sync_upload(up)?;
        Ok(up.size())
    }
}
