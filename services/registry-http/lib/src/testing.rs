//! An in-memory [`Backend`] for tests and the example server. It verifies
//! upload and manifest digests with SHA-256 (`sha2`) as the storage
//! service does, so a test that sends wrong bytes fails the same way.

use crate::backend::{Backend, ManifestPut, StoredManifest};
use crate::error::BackendError;
use crate::names::{Digest, Reference};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sha2::{Digest as _, Sha256};

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> Digest {
    Digest::from_sha256(&Sha256::digest(data).into())
}

#[derive(Default, Debug)]
struct Repo {
    blobs: BTreeSet<Digest>,
    manifests: BTreeMap<Digest, (String, Vec<u8>, Option<Digest>)>,
    tags: BTreeMap<String, Digest>,
}

#[derive(Debug)]
struct Upload {
    repo: String,
    data: Vec<u8>,
}

/// Blobs are stored once (by digest) and belong to the repositories they
/// were pushed or mounted into.
#[derive(Default, Debug)]
pub struct MemBackend {
    blobs: BTreeMap<Digest, Vec<u8>>,
    repos: BTreeMap<String, Repo>,
    uploads: BTreeMap<String, Upload>,
    next_id: u64,
    /// The largest `upload_append` piece seen (bounded-memory checks).
    pub largest_append: usize,
    /// How many `upload_append` calls were made.
    pub appends: usize,
    /// The largest `blob_read` buffer asked for.
    pub largest_read: usize,
    /// Successful cross-repository mounts.
    pub mounts: usize,
    /// Bytes the blobs and upload sessions may hold together (a disk's
    /// size); an append beyond it fails as a full disk does.
    pub capacity: Option<usize>,
}

impl MemBackend {
    pub fn new() -> MemBackend {
        MemBackend::default()
    }

    /// Puts a blob into `repo` directly (test setup); returns its digest.
    pub fn insert_blob(&mut self, repo: &str, data: &[u8]) -> Digest {
        let d = sha256(data);
        self.blobs.insert(d.clone(), data.to_vec());
        self.repos
            .entry(repo.into())
            .or_default()
            .blobs
            .insert(d.clone());
        d
    }

    /// Open upload sessions (cleanup checks).
    pub fn open_uploads(&self) -> usize {
        self.uploads.len()
    }

    /// The bytes of a blob, wherever it is.
    pub fn blob_bytes(&self, digest: &Digest) -> Option<&[u8]> {
        self.blobs.get(digest).map(Vec::as_slice)
    }

    fn repo(&self, repo: &str) -> Result<&Repo, BackendError> {
        self.repos.get(repo).ok_or(BackendError::NameUnknown)
    }

    fn upload(&mut self, repo: &str, id: &str) -> Result<&mut Upload, BackendError> {
        match self.uploads.get_mut(id) {
            Some(u) if u.repo == repo => Ok(u),
            _ => Err(BackendError::UploadUnknown),
        }
    }

    fn resolve(&self, repo: &str, r: &Reference) -> Result<Digest, BackendError> {
        let rp = self.repos.get(repo).ok_or(BackendError::ManifestUnknown)?;
        let d = match r {
            Reference::Tag(t) => rp.tags.get(t).cloned(),
            Reference::Digest(d) => Some(d.clone()),
        };
        d.filter(|d| rp.manifests.contains_key(d))
            .ok_or(BackendError::ManifestUnknown)
    }
}

impl Backend for MemBackend {
    fn blob_stat(&mut self, repo: &str, digest: &Digest) -> Result<u64, BackendError> {
        match self.repos.get(repo) {
            Some(r) if r.blobs.contains(digest) => Ok(self.blobs[digest].len() as u64),
            _ => Err(BackendError::BlobUnknown),
        }
    }

    fn blob_read(
        &mut self,
        repo: &str,
        digest: &Digest,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, BackendError> {
        self.blob_stat(repo, digest)?;
        self.largest_read = self.largest_read.max(buf.len());
        let data = &self.blobs[digest];
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn blob_delete(&mut self, repo: &str, digest: &Digest) -> Result<(), BackendError> {
        let removed = self
            .repos
            .get_mut(repo)
            .is_some_and(|r| r.blobs.remove(digest));
        if removed {
            Ok(())
        } else {
            Err(BackendError::BlobUnknown)
        }
    }

    fn blob_mount(
        &mut self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, BackendError> {
        let held = self
            .repos
            .get(from)
            .is_some_and(|r| r.blobs.contains(digest));
        if held {
            self.mounts += 1;
            self.repos
                .entry(repo.into())
                .or_default()
                .blobs
                .insert(digest.clone());
        }
        Ok(held)
    }

    fn upload_start(&mut self, repo: &str) -> Result<String, BackendError> {
        self.next_id += 1;
        let id = format!("u{:08}-{}", self.next_id, repo.len());
        self.uploads.insert(
            id.clone(),
            Upload {
                repo: repo.into(),
                data: Vec::new(),
            },
        );
        Ok(id)
    }

    fn upload_append(
        &mut self,
        repo: &str,
        id: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, BackendError> {
        self.appends += 1;
        self.largest_append = self.largest_append.max(data.len());
        if let Some(cap) = self.capacity {
            let used = self.blobs.values().map(Vec::len).sum::<usize>()
                + self.uploads.values().map(|u| u.data.len()).sum::<usize>();
            if used + data.len() > cap {
                // The fs service's words for it.
                return Err(BackendError::StorageFull(format!(
                    "upload append of {} bytes refused: only {} bytes are free",
                    data.len(),
                    cap.saturating_sub(used)
                )));
            }
        }
        let u = self.upload(repo, id)?;
        let current = u.data.len() as u64;
        if offset != current {
            return Err(BackendError::OffsetMismatch { current });
        }
        u.data.extend_from_slice(data);
        Ok(u.data.len() as u64)
    }

    fn upload_status(&mut self, repo: &str, id: &str) -> Result<u64, BackendError> {
        Ok(self.upload(repo, id)?.data.len() as u64)
    }

    fn upload_finish(
        &mut self,
        repo: &str,
        id: &str,
        digest: &Digest,
    ) -> Result<u64, BackendError> {
        let actual = sha256(&self.upload(repo, id)?.data);
        if &actual != digest {
            return Err(BackendError::DigestMismatch {
                actual: actual.as_str().into(),
            });
        }
        let u = self.uploads.remove(id).ok_or(BackendError::UploadUnknown)?;
        let len = u.data.len() as u64;
        self.blobs.insert(actual.clone(), u.data);
        self.repos
            .entry(repo.into())
            .or_default()
            .blobs
            .insert(actual);
        Ok(len)
    }

    fn upload_cancel(&mut self, repo: &str, id: &str) -> Result<(), BackendError> {
        self.upload(repo, id)?;
        self.uploads.remove(id);
        Ok(())
    }

    fn manifest_put(
        &mut self,
        repo: &str,
        reference: &Reference,
        m: &ManifestPut<'_>,
    ) -> Result<Digest, BackendError> {
        let d = sha256(m.body);
        if let Reference::Digest(want) = reference {
            if want != &d {
                return Err(BackendError::DigestMismatch {
                    actual: d.as_str().into(),
                });
            }
        }
        let r = self.repos.entry(repo.into()).or_default();
        r.manifests.insert(
            d.clone(),
            (m.media_type.into(), m.body.to_vec(), m.subject.cloned()),
        );
        if let Reference::Tag(t) = reference {
            r.tags.insert(t.clone(), d.clone());
        }
        Ok(d)
    }

    fn manifest_get(&mut self, repo: &str, r: &Reference) -> Result<StoredManifest, BackendError> {
        let d = self.resolve(repo, r)?;
        let (mt, body, _) = &self.repos[repo].manifests[&d];
        Ok(StoredManifest {
            digest: d,
            media_type: mt.clone(),
            body: body.clone(),
        })
    }

    fn manifest_delete(&mut self, repo: &str, r: &Reference) -> Result<(), BackendError> {
        let d = self.resolve(repo, r)?;
        let rp = self
            .repos
            .get_mut(repo)
            .ok_or(BackendError::ManifestUnknown)?;
        match r {
            Reference::Tag(t) => {
                rp.tags.remove(t);
            }
            Reference::Digest(_) => {
                rp.manifests.remove(&d);
                rp.tags.retain(|_, v| *v != d);
            }
        }
        Ok(())
    }

    fn tags(
        &mut self,
        repo: &str,
        last: Option<&str>,
        n: usize,
    ) -> Result<Vec<String>, BackendError> {
        let r = self.repo(repo)?;
        Ok(r.tags
            .keys()
            .filter(|t| last.is_none_or(|l| t.as_str() > l))
            .take(n)
            .cloned()
            .collect())
    }

    fn catalog(&mut self, last: Option<&str>, n: usize) -> Result<Vec<String>, BackendError> {
        Ok(self
            .repos
            .keys()
            .filter(|t| last.is_none_or(|l| t.as_str() > l))
            .take(n)
            .cloned()
            .collect())
    }

    fn referrers(&mut self, repo: &str, subject: &Digest) -> Result<Vec<Digest>, BackendError> {
        let r = self.repo(repo)?;
        Ok(r.manifests
            .iter()
            .filter(|(_, (_, _, s))| s.as_ref() == Some(subject))
            .map(|(d, _)| d.clone())
            .collect())
    }
}
