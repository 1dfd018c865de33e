//! `registry_http::Backend` over the fs/registry service's IPC client.
//!
//! What the fs service does not store, this adapter derives: a manifest's
//! media type is read from its own `mediaType` field (the reference
//! registry does the same: its tree holds only the bytes), and a manifest
//! fetched by tag gets its digest from SHA-256 of the bytes. Referrers are
//! found by reading the repository's manifest revisions.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use fs_api::client::{Error as FsError, FsClient};
use fs_api::FsError as E;
use registry_http::error::BackendError;
use registry_http::names::{Digest, Reference};
use registry_http::{Backend, ManifestPut, StoredManifest};

/// Text listings (tags, repositories, revisions) are fetched into a buffer
/// of this size; a longer listing is an error rather than an unbounded
/// allocation.
const LIST_MAX: usize = 256 * 1024;
/// Manifests larger than this are refused by the fs service as well.
const MANIFEST_MAX: usize = fs_api::MANIFEST_MAX;

pub struct FsBackend {
    fs: FsClient,
    /// A reused buffer for listings and manifests (grown up to the maxima).
    buf: Vec<u8>,
    /// Blob reads and upload appends made (for the transfer accounts).
    pub calls: u64,
}

impl FsBackend {
    pub fn new(fs: FsClient) -> FsBackend {
        FsBackend {
            fs,
            buf: vec![0; 64 * 1024],
            calls: 0,
        }
    }

    /// A text listing (`Repos`, `Tags`, `List`) as owned lines.
    fn listing(
        &mut self,
        call: impl Fn(&FsClient, &mut [u8]) -> Result<fs_api::client::TextReply, FsError>,
    ) -> Result<Vec<String>, FsError> {
        loop {
            let r = call(&self.fs, &mut self.buf)?;
            if r.needed > r.written && r.needed <= LIST_MAX && r.needed > self.buf.len() {
                self.buf.resize(r.needed, 0);
                continue;
            }
            let text = core::str::from_utf8(&self.buf[..r.written]).unwrap_or("");
            return Ok(text.lines().map(|l| l.to_string()).collect());
        }
    }
}

/// A missing object (file, blob, link, manifest).
fn not_found(e: &FsError) -> bool {
    e.service().is_some_and(E::is_not_found)
}

/// A text argument (a repository name, reference, digest) the fs service's
/// grammar refused.
fn invalid(e: &FsError) -> bool {
    matches!(
        e.service(),
        Some(E::BadArgument { .. } | E::InvalidPath { .. } | E::NameTooLong { .. })
    )
}

/// The fs service's failure as the API's: `not_found` for a missing object.
fn fail(e: FsError, not_found_as: BackendError) -> BackendError {
    match e.service() {
        _ if not_found(&e) => not_found_as,
        Some(
            E::NoUpload {}
            | E::NoPut {}
            | E::PutShort { .. }
            | E::PutOverrun { .. }
            | E::PutAbandoned {}
            | E::UploadUnknown { .. }
            | E::UploadShort { .. }
            | E::UploadOverrun { .. },
        ) => BackendError::UploadUnknown,
        Some(E::RequestTooLarge { .. } | E::FileTooLarge { .. } | E::ManifestTooLarge { .. }) => {
            BackendError::SizeInvalid(e.to_string())
        }
        // Out of space: 507 (registry_http::STORAGE_FULL says why).
        Some(E::NoRoom { .. }) => BackendError::StorageFull(e.to_string()),
        // The block allocator's own words ("no free run of blocks that
        // long") do not tell a registry user that the disk is full.
        Some(E::Disk {
            fault: fs_api::BlockFault(block::Error::NoSpace),
        }) => BackendError::StorageFull(alloc::format!("the disk is full: {e}")),
        // A quota is a policy refusal, not a malformed or oversized
        // request: DENIED (403), the spec's code for "access to the
        // resource is denied", which clients show with its message and do
        // not retry. The refusal comes before anything is written, so an
        // upload session keeps what it held (SIZE_INVALID would drop it).
        Some(E::QuotaExceeded { .. } | E::TooManyQuotas { .. }) => {
            BackendError::Denied(e.to_string())
        }
        _ => BackendError::Internal(e.to_string()),
    }
}

fn upload_id(id: &str) -> Result<u64, BackendError> {
    if id.len() != 16 {
        return Err(BackendError::UploadUnknown);
    }
    u64::from_str_radix(id, 16).map_err(|_| BackendError::UploadUnknown)
}

fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::from_sha256(&sha256tcg::digest(bytes))
}

/// A stored manifest's media type, from its own `mediaType`, else by shape.
fn media_type_of(body: &[u8]) -> String {
    if let Ok(p) = registry_http::manifest::parse(body, None) {
        return p.media_type;
    }
    let text = core::str::from_utf8(body).unwrap_or("");
    if text.contains("\"manifests\"") {
        "application/vnd.oci.image.index.v1+json".to_string()
    } else {
        "application/vnd.oci.image.manifest.v1+json".to_string()
    }
}

impl Backend for FsBackend {
    fn blob_stat(&mut self, repo: &str, digest: &Digest) -> Result<u64, BackendError> {
        self.fs
            .blob_linked(repo, digest.as_str())
            .map_err(|e| fail(e, BackendError::BlobUnknown))
    }

    fn blob_read(
        &mut self,
        _repo: &str,
        digest: &Digest,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, BackendError> {
        // A failure here cuts the response short of its Content-Length (the
        // head is sent): say why on the console, where an operator looks.
        self.calls += 1;
        self.fs
            .blob_read(digest.as_str(), offset, buf)
            .map(|(n, _)| n)
            .map_err(|e| {
                userlib::println!("registry: reading {digest} at {offset}: {e}");
                fail(e, BackendError::BlobUnknown)
            })
    }

    fn blob_delete(&mut self, repo: &str, digest: &Digest) -> Result<(), BackendError> {
        self.fs
            .blob_unlink(repo, digest.as_str())
            .map_err(|e| fail(e, BackendError::BlobUnknown))
    }

    fn blob_mount(
        &mut self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, BackendError> {
        match self.fs.blob_mount(repo, from, digest.as_str()) {
            Ok(_) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            // An invalid `from` name: the client uploads instead.
            Err(e) if invalid(&e) => Ok(false),
            Err(e) => Err(fail(e, BackendError::BlobUnknown)),
        }
    }

    fn upload_start(&mut self, repo: &str) -> Result<String, BackendError> {
        let id = self
            .fs
            .upload_start(repo)
            .map_err(|e| fail(e, BackendError::NameUnknown))?;
        Ok(alloc::format!("{id:016x}"))
    }

    fn upload_append(
        &mut self,
        repo: &str,
        id: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, BackendError> {
        let n = upload_id(id)?;
        self.calls += 1;
        match self.fs.upload_append(repo, n, offset, data) {
            Ok(size) => Ok(size),
            Err(e) if matches!(e.service(), Some(E::WrongOffset { .. })) => {
                let current = self
                    .fs
                    .upload_status(repo, n)
                    .map_err(|e| fail(e, BackendError::UploadUnknown))?;
                Err(BackendError::OffsetMismatch { current })
            }
            Err(e) => Err(fail(e, BackendError::UploadUnknown)),
        }
    }

    fn upload_status(&mut self, repo: &str, id: &str) -> Result<u64, BackendError> {
        self.fs
            .upload_status(repo, upload_id(id)?)
            .map_err(|e| fail(e, BackendError::UploadUnknown))
    }

    fn upload_finish(
        &mut self,
        repo: &str,
        id: &str,
        digest: &Digest,
    ) -> Result<u64, BackendError> {
        match self.fs.upload_finish(repo, upload_id(id)?, digest.as_str()) {
            Ok(size) => Ok(size),
            // The digest the bytes hash to, as the detail says it ("content
            // digest is sha256:..."), not the fs service's whole sentence.
            Err(e) => match e.service() {
                Some(E::DigestMismatch { got, .. }) if got.algorithm == 0 => {
                    Err(BackendError::DigestMismatch {
                        actual: Digest::from_sha256(&got.bytes).as_str().to_string(),
                    })
                }
                _ => Err(fail(e, BackendError::UploadUnknown)),
            },
        }
    }

    fn upload_cancel(&mut self, repo: &str, id: &str) -> Result<(), BackendError> {
        self.fs
            .upload_cancel(repo, upload_id(id)?)
            .map_err(|e| fail(e, BackendError::UploadUnknown))
    }

    fn manifest_put(
        &mut self,
        repo: &str,
        reference: &Reference,
        manifest: &ManifestPut<'_>,
    ) -> Result<Digest, BackendError> {
        // The fs service hashes the manifest once: it refuses a digest
        // reference the bytes do not match (before storing anything) and
        // answers the digest it stored them under.
        match self
            .fs
            .manifest_put(repo, reference.as_str(), manifest.body)
        {
            Ok(digest) => Digest::parse(&digest).ok_or_else(|| {
                BackendError::Internal(alloc::format!("fs answered digest {digest:?}"))
            }),
            Err(e) => match e.service() {
                Some(E::DigestMismatch { got, .. }) if got.algorithm == 0 => {
                    Err(BackendError::DigestMismatch {
                        actual: Digest::from_sha256(&got.bytes).as_str().to_string(),
                    })
                }
                _ => Err(fail(e, BackendError::ManifestUnknown)),
            },
        }
    }

    fn manifest_get(
        &mut self,
        repo: &str,
        reference: &Reference,
    ) -> Result<StoredManifest, BackendError> {
        let unknown = || BackendError::ManifestUnknown;
        let (n, size) = self
            .fs
            .manifest_get(repo, reference.as_str(), &mut self.buf)
            .map_err(|e| fail(e, unknown()))?;
        let body = if (n as u64) < size {
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= MANIFEST_MAX)
                .ok_or_else(|| BackendError::Internal("stored manifest too large".into()))?;
            let mut body = vec![0u8; size];
            let (m, _) = self
                .fs
                .manifest_get(repo, reference.as_str(), &mut body)
                .map_err(|e| fail(e, unknown()))?;
            body.truncate(m);
            body
        } else {
            self.buf[..n].to_vec()
        };
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(_) => sha256_digest(&body),
        };
        Ok(StoredManifest {
            digest,
            media_type: media_type_of(&body),
            body,
        })
    }

    fn manifest_delete(&mut self, repo: &str, reference: &Reference) -> Result<(), BackendError> {
        self.fs
            .manifest_remove(repo, reference.as_str())
            .map_err(|e| fail(e, BackendError::ManifestUnknown))
    }

    fn tags(
        &mut self,
        repo: &str,
        last: Option<&str>,
        n: usize,
    ) -> Result<Vec<String>, BackendError> {
        let all = self
            .listing(|fs, out| fs.tags(repo, out))
            .map_err(|e| fail(e, BackendError::NameUnknown))?;
        if all.is_empty() {
            // The fs service lists a missing repository as no tags; the
            // spec (and the reference registry) answer NAME_UNKNOWN when
            // the repository has no tags directory.
            let dir = alloc::format!("/docker/registry/v2/repositories/{repo}/_manifests/tags");
            match self.fs.list(&dir, "", 1, &mut self.buf) {
                Ok(_) => {}
                Err(e) if not_found(&e) => return Err(BackendError::NameUnknown),
                Err(e) => return Err(fail(e, BackendError::NameUnknown)),
            }
        }
        Ok(page(all, last, n))
    }

    fn catalog(&mut self, last: Option<&str>, n: usize) -> Result<Vec<String>, BackendError> {
        let all = self
            .listing(|fs, out| fs.repos(out))
            .map_err(|e| fail(e, BackendError::Internal(String::new())))?;
        Ok(page(all, last, n))
    }

    fn referrers(&mut self, repo: &str, subject: &Digest) -> Result<Vec<Digest>, BackendError> {
        let dir =
            alloc::format!("/docker/registry/v2/repositories/{repo}/_manifests/revisions/sha256");
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let entries = match self.fs.list(&dir, &after, 256, &mut self.buf) {
                Ok((_, written)) => core::str::from_utf8(&self.buf[..written])
                    .unwrap_or("")
                    .lines()
                    .map(|l| l.to_string())
                    .collect::<Vec<String>>(),
                // No revisions yet: no referrers.
                Err(e) if not_found(&e) => return Ok(out),
                Err(e) => return Err(fail(e, BackendError::NameUnknown)),
            };
            let Some(last) = entries.last() else {
                return Ok(out);
            };
            after = last.get(2..).unwrap_or("").to_string();
            for e in &entries {
                let Some(hex) = e.strip_prefix("d ") else {
                    continue;
                };
                let Some(d) = Digest::parse(&alloc::format!("sha256:{hex}")) else {
                    continue;
                };
                let m = self.manifest_get(repo, &Reference::Digest(d.clone()))?;
                if let Ok(p) = registry_http::manifest::parse(&m.body, None) {
                    if p.subject.as_ref() == Some(subject) {
                        out.push(d);
                    }
                }
            }
        }
    }
}

/// Entries after `last`, at most `n` (the listing is sorted).
fn page(all: Vec<String>, last: Option<&str>, n: usize) -> Vec<String> {
    let mut v: Vec<String> = all
        .into_iter()
        .filter(|t| !t.is_empty() && last.is_none_or(|l| t.as_str() > l))
        .collect();
    v.sort();
    v.truncate(n);
    v
}
