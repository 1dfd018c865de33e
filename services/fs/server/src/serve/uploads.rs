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

use alloc::collections::BTreeMap;
use alloc::format;

use filesystem::{upload_id_text, Algorithm, Digest, RepoName, SessionError, Upload};
use fs_api::{split_args, status, FsRequest, PIECE};
use userlib::abi::Message;
use userlib::ipc::ReplyToken;

use super::{bad_args, parse_digest, parse_repo, Outcome, Service};
use crate::errors::Fail;

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

fn session_fail(e: SessionError) -> Fail {
    match e {
        SessionError::WrongOffset { offset, size } => Fail::new(
            status::WRONG_OFFSET,
            format!("the upload holds {size} bytes; data was sent for offset {offset}"),
        ),
        SessionError::Registry(e) => e.into(),
    }
}

impl Service {
    /// Session `id` of `repo` with its running hash in `algorithm`.
    fn open_upload(
        &mut self,
        repo: &RepoName,
        id: u64,
        algorithm: Algorithm,
    ) -> Result<Upload, Fail> {
        match self.open_uploads.take(repo, id) {
            Some(up) if up.algorithm() == algorithm => Ok(up),
            _ => Ok(self.reg().resume_upload(repo, id, algorithm)?),
        }
    }

    pub(super) fn handle_upload(
        &mut self,
        request: FsRequest,
        args: &[u8],
        msg: &Message,
        token: &ReplyToken,
    ) -> Outcome {
        match request {
            FsRequest::UploadStart {} => {
                let [repo] = split_args::<1>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let up = self.reg().begin_upload(Some(&repo), Algorithm::Sha256)?;
                let id = filesystem::parse_upload_id(up.id())
                    .ok_or_else(|| Fail::new(status::IO, "upload id is not 16 hex digits"))?;
                self.open_uploads.keep(repo, id, up);
                Ok([id, 0, 0, 0, 0, 0])
            }
            FsRequest::UploadAppend { id, offset } => {
                let [repo] = split_args::<1>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                self.reg()
                    .fs()
                    .check_request_length("upload append", msg.leases[1].len)?;
                let mut up = self.open_upload(&repo, id, Algorithm::Sha256)?;
                let r = self.append_lease(&mut up, offset, msg.leases[1].len, token);
                self.open_uploads.keep(repo, id, up);
                let size = r?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::UploadStatus { id } => {
                let [repo] = split_args::<1>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let up = self.open_upload(&repo, id, Algorithm::Sha256)?;
                let size = up.size();
                self.open_uploads.keep(repo, id, up);
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::UploadFinish { id } => {
                let [repo, digest] = split_args::<2>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                let d = parse_digest(digest)?;
                let up = self.open_upload(&repo, id, d.algorithm())?;
                let reg = self.reg();
                let size = reg.finish_upload_into(up, &d, Some(&repo))?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::UploadCancel { id } => {
                let [repo] = split_args::<1>(args).ok_or_else(bad_args)?;
                let repo = parse_repo(repo)?;
                self.open_uploads.take(&repo, id);
                if !self.reg().remove_upload(Some(&repo), &upload_id_text(id))? {
                    return Err(Fail::new(
                        status::NO_UPLOAD,
                        format!("no upload {} in {repo}", upload_id_text(id)),
                    ));
                }
                Ok([0; 6])
            }
            FsRequest::BlobMount {} => {
                let [repo, from, digest] = split_args::<3>(args).ok_or_else(bad_args)?;
                let (repo, from) = (parse_repo(repo)?, parse_repo(from)?);
                let d = parse_digest(digest)?;
                let size = self.linked_size(&from, &d)?;
                self.reg().link_blob(&repo, &d)?;
                Ok([size, 0, 0, 0, 0, 0])
            }
            FsRequest::BlobLinked {} => {
                let [repo, digest] = split_args::<2>(args).ok_or_else(bad_args)?;
                let (repo, d) = (parse_repo(repo)?, parse_digest(digest)?);
                Ok([self.linked_size(&repo, &d)?, 0, 0, 0, 0, 0])
            }
            FsRequest::BlobUnlink {} => {
                let [repo, digest] = split_args::<2>(args).ok_or_else(bad_args)?;
                let (repo, d) = (parse_repo(repo)?, parse_digest(digest)?);
                if !self.reg().unlink_blob(&repo, &d)? {
                    return Err(Fail::new(
                        status::NOT_FOUND,
                        format!("blob {d} is not linked into {repo}"),
                    ));
                }
                Ok([0; 6])
            }
            _ => Err(Fail::new(status::BAD_REQUEST, "not an upload request")),
        }
    }

    /// The size of blob `d` when it is stored and linked into `repo`.
    fn linked_size(&mut self, repo: &RepoName, d: &Digest) -> Result<u64, Fail> {
        let reg = self.reg();
        match (reg.is_linked(repo, d)?, reg.blob_size(d)?) {
            (true, Some(size)) => Ok(size),
            _ => Err(Fail::new(
                status::NOT_FOUND,
                format!("blob {d} is not in repository {repo}"),
            )),
        }
    }

    /// Streams lease 1 (`len` bytes) into the session at `offset`, one
    /// piece per batched transaction, then makes it durable.
    fn append_lease(
        &mut self,
        up: &mut Upload,
        offset: u64,
        len: u64,
        token: &ReplyToken,
    ) -> Result<u64, Fail> {
        if offset != up.size() {
            return Err(session_fail(SessionError::WrongOffset {
                offset,
                size: up.size(),
            }));
        }
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(PIECE as u64) as usize;
            self.lease_in(token, done, n)?;
            let reg = self
                .reg
                .as_mut()
                .ok_or_else(|| Fail::new(status::UNAVAILABLE, "not mounted"))?;
            reg.append_piece(up, offset + done, &self.piece[..n])
                .map_err(session_fail)?;
            done += n as u64;
        }
        self.reg().sync_upload(up)?;
        Ok(up.size())
    }
}
