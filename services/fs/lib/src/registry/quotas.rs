//! Quota checks before registry work starts ([`crate::quota`]): a blob,
//! manifest, mount or upload piece that would pass its repository's limit
//! (or the limit on `/docker`, where registry content is kept) is refused
//! before anything is hashed or written.

use super::*;
use crate::quota::QuotaTarget;

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Refuses storing blob `d` of `len` bytes and linking it into `repo`
    /// when that passes a limit: the repository's unless it links `d`
    /// already, `/docker`'s unless `d` is stored already.
    pub fn check_blob_quota(
        &mut self,
        repo: Option<&RepoName>,
        d: &Digest,
        len: u64,
    ) -> Result<(), RegistryError> {
        let link = repo.map(|r| layout::layer_link(r, d));
        self.check_store(repo, d, len, link.as_deref())
    }

    /// Refuses `len` more bytes of an upload session of `repo` (its bytes
    /// count while it is open) when that passes a limit.
    pub fn check_upload_quota(
        &mut self,
        repo: Option<&RepoName>,
        len: u64,
    ) -> Result<(), RegistryError> {
        if len == 0 || !self.fs.has_quotas(None)? {
            return Ok(());
        }
        self.fs
            .check_target(&QuotaTarget::Dir("docker".into()), len)?;
        if let Some(t) = repo.and_then(|r| QuotaTarget::repo(r).ok()) {
            self.fs.check_target(&t, len)?;
        }
        Ok(())
    }

    /// The check of a store of blob `d` (`len` bytes) that `link` (in
    /// `repo`) will name.
    pub(super) fn check_store(
        &mut self,
        repo: Option<&RepoName>,
        d: &Digest,
        len: u64,
        link: Option<&str>,
    ) -> Result<(), RegistryError> {
        if len == 0 || !self.fs.has_quotas(None)? {
            return Ok(());
        }
        if self.blob_size(d)?.is_none() {
            self.fs
                .check_target(&QuotaTarget::Dir("docker".into()), len)?;
        }
        if let (Some(t), Some(link)) = (repo.and_then(|r| QuotaTarget::repo(r).ok()), link) {
            if !self.fs.exists(link)? {
                self.fs.check_target(&t, len)?;
            }
        }
        Ok(())
    }
}
