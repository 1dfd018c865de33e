//! The storage interface the API is served over. The registry service
//! implements it with IPC calls to the fs/registry service; tests use
//! [`crate::testing::MemBackend`].
//!
//! Every name, digest, reference and upload id handed to a backend has
//! been validated by the router. Every byte count comes from the client
//! and is bounded by [`crate::Limits`], never trusted further.

use crate::error::BackendError;
use crate::names::{Digest, Reference};
use alloc::string::String;
use alloc::vec::Vec;

/// A manifest being pushed, already parsed and checked by the router:
/// its JSON is valid for `media_type`, every blob and child manifest it
/// names exists in the repository.
pub struct ManifestPut<'a> {
    /// The media type it was pushed with; served back on every GET/HEAD.
    pub media_type: &'a str,
    /// The exact bytes pushed (its digest is their SHA-256).
    pub body: &'a [u8],
    /// The `subject` it refers to, for the referrers API.
    pub subject: Option<&'a Digest>,
}

/// A stored manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub body: Vec<u8>,
}

/// Storage operations behind the OCI Distribution API.
///
/// `repo` is a valid repository name. Blobs are per repository as far as
/// the API is concerned (a blob is only "in" a repository once pushed or
/// mounted there), even if the store shares their bytes.
pub trait Backend {
    /// The size of a blob in `repo`, or `BlobUnknown`.
    fn blob_stat(&mut self, repo: &str, digest: &Digest) -> Result<u64, BackendError>;
    /// Reads up to `buf.len()` bytes of the blob at `offset` (verified by
    /// the storage before they are returned); returns how many, 0 only at
    /// the end.
    fn blob_read(
        &mut self,
        repo: &str,
        digest: &Digest,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, BackendError>;
    /// Removes the blob from `repo`.
    fn blob_delete(&mut self, repo: &str, digest: &Digest) -> Result<(), BackendError>;
    /// Makes the blob of repository `from` part of `repo` without copying;
    /// `Ok(false)` when `from` does not hold it (the client then uploads).
    fn blob_mount(&mut self, repo: &str, from: &str, digest: &Digest)
        -> Result<bool, BackendError>;

    /// Opens an upload session; returns its id (see
    /// [`crate::names::valid_upload_id`] for what an id may contain).
    fn upload_start(&mut self, repo: &str) -> Result<String, BackendError>;
    /// Appends `data` at `offset`, which must equal the bytes the session
    /// holds (else `OffsetMismatch`). The bytes are durable when this
    /// returns: the answer to the client says so. Returns the new size.
    fn upload_append(
        &mut self,
        repo: &str,
        id: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, BackendError>;
    /// How many bytes the session holds.
    fn upload_status(&mut self, repo: &str, id: &str) -> Result<u64, BackendError>;
    /// Ends the session: the bytes become blob `digest` of `repo` if their
    /// SHA-256 matches (the backend verifies), else `DigestMismatch`.
    /// Returns the blob size.
    fn upload_finish(&mut self, repo: &str, id: &str, digest: &Digest)
        -> Result<u64, BackendError>;
    /// Drops the session and its bytes.
    fn upload_cancel(&mut self, repo: &str, id: &str) -> Result<(), BackendError>;

    /// Stores a manifest under its digest, and under `reference` when that
    /// is a tag. A digest reference that does not match the body's SHA-256
    /// is `DigestMismatch` and stores nothing. Returns the digest.
    fn manifest_put(
        &mut self,
        repo: &str,
        reference: &Reference,
        manifest: &ManifestPut<'_>,
    ) -> Result<Digest, BackendError>;
    /// The manifest a tag or digest names, or `ManifestUnknown`.
    fn manifest_get(
        &mut self,
        repo: &str,
        reference: &Reference,
    ) -> Result<StoredManifest, BackendError>;
    /// Deletes a manifest by digest, or only the tag when `reference` is a tag.
    fn manifest_delete(&mut self, repo: &str, reference: &Reference) -> Result<(), BackendError>;

    /// Up to `n` tags of `repo` in lexical order, each greater than `last`
    /// when given. `NameUnknown` when the repository does not exist.
    fn tags(
        &mut self,
        repo: &str,
        last: Option<&str>,
        n: usize,
    ) -> Result<Vec<String>, BackendError>;
    /// Up to `n` repository names in lexical order, after `last`.
    fn catalog(&mut self, last: Option<&str>, n: usize) -> Result<Vec<String>, BackendError>;
    /// Digests of the manifests of `repo` whose `subject` is `subject`.
    fn referrers(&mut self, repo: &str, subject: &Digest) -> Result<Vec<Digest>, BackendError>;
}
