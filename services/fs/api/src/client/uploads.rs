//! Client stubs of the resumable upload sessions and repository-scoped blob
//! calls (the registry HTTP service's needs).

use super::{lend, FsClient, FsError, TextReply};
use crate::{join_args, FsRequest};

impl FsClient {
    /// Starts an upload session in `repo`; returns its id.
    pub fn upload_start(&self, repo: &str) -> Result<u64, FsError> {
        self.simple(FsRequest::UploadStart {}, &[repo])
            .map(|w| w[0])
    }

    /// Appends `data` at `offset`; durable when it returns the new size.
    /// `status::WRONG_OFFSET` when `offset` is not the session's size.
    pub fn upload_append(
        &self,
        repo: &str,
        id: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, FsError> {
        let l0 = join_args(&[repo]);
        self.call(
            FsRequest::UploadAppend { id, offset },
            &l0,
            Some(lend(data)),
        )
        .map(|w| w[0])
    }

    /// The bytes the session holds.
    pub fn upload_status(&self, repo: &str, id: u64) -> Result<u64, FsError> {
        self.simple(FsRequest::UploadStatus { id }, &[repo])
            .map(|w| w[0])
    }

    /// Verifies the session against `digest`, stores and links the blob;
    /// returns its size.
    pub fn upload_finish(&self, repo: &str, id: u64, digest: &str) -> Result<u64, FsError> {
        self.simple(FsRequest::UploadFinish { id }, &[repo, digest])
            .map(|w| w[0])
    }

    pub fn upload_cancel(&self, repo: &str, id: u64) -> Result<(), FsError> {
        self.simple(FsRequest::UploadCancel { id }, &[repo])
            .map(|_| ())
    }

    /// Links blob `digest`, which `from` holds, into `repo`; returns its size.
    pub fn blob_mount(&self, repo: &str, from: &str, digest: &str) -> Result<u64, FsError> {
        self.simple(FsRequest::BlobMount {}, &[repo, from, digest])
            .map(|w| w[0])
    }

    /// The size of blob `digest` if it is stored and linked into `repo`.
    pub fn blob_linked(&self, repo: &str, digest: &str) -> Result<u64, FsError> {
        self.simple(FsRequest::BlobLinked {}, &[repo, digest])
            .map(|w| w[0])
    }

    /// Removes `repo`'s link to blob `digest`.
    pub fn blob_unlink(&self, repo: &str, digest: &str) -> Result<(), FsError> {
        self.simple(FsRequest::BlobUnlink {}, &[repo, digest])
            .map(|_| ())
    }

    /// Registry GC; the report is written into `out`.
    pub fn registry_gc(
        &self,
        dry_run: bool,
        grace_secs: u64,
        out: &mut [u8],
    ) -> Result<TextReply, FsError> {
        self.text(
            FsRequest::RegistryGc {
                dry_run,
                grace_secs,
            },
            &[],
            out,
        )
    }
}
