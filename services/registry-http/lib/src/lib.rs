//! The registry's HTTP front: an HTTP/1.1 connection state machine and the
//! OCI Distribution Specification v1.1 API over a storage [`Backend`].
//!
//! The registry service feeds each TCP connection's bytes to a
//! [`Connection`] and writes back what it produces; the `Backend` is the
//! fs/registry service reached over IPC. Host tests use
//! [`testing::MemBackend`] (feature `testing`).
//!
//! # Design principles
//! - Sans-IO: no sockets, no clock, no threads. Bytes and the current time
//!   are passed in; response bytes and timeout decisions come out. The same
//!   code runs over `std::net` in tests and over the network service's IPC
//!   sockets on the microkernel.
//! - Bounded memory: a request head is at most [`Limits::max_head`] bytes;
//!   upload bodies go to the backend in pieces of at most
//!   [`Limits::upload_piece`] as they arrive (never a whole blob); manifests
//!   are at most [`Limits::max_manifest`]; blob responses are read from the
//!   backend straight into the caller's output buffer.
//! - Nothing from the client is trusted: names, tags, digests and upload
//!   ids are checked against the spec's grammars before the backend sees
//!   them; `Content-Length`, `Content-Range` and chunk sizes are checked
//!   for overflow, consistency and limits; ambiguous framing (both
//!   `Content-Length` and chunked, differing lengths) is refused.
//! - What is verified where: this crate checks syntax, sizes and manifest
//!   references (a manifest's config, layers and index children must be in
//!   the repository, else `MANIFEST_BLOB_UNKNOWN`). The backend verifies
//!   content: SHA-256 of an upload against its digest (while streaming)
//!   and of a manifest pushed by digest, and checksums on every read.
//! - Durable when acknowledged: a `202` to a `PATCH` is sent only after the
//!   backend's append returned, so a client resuming after a disconnect or
//!   a power cut asks the status and continues from the offset it reports.
//! - Every error answer is the spec's JSON body with the spec's status.
//!
//! # Conventions and limits (stated, not accidental)
//! - Digests: `sha256` only. Manifests: OCI image manifest and index,
//!   Docker schema 2 manifest and manifest list (schema 1 is refused).
//! - An index or manifest list is served only to a client whose `Accept`
//!   names it (or a wildcard, or no `Accept`); single manifests are served
//!   whatever `Accept` says, as the reference registry does.
//! - An upload session's `Range` is `0-<last byte>`, and `0-0` when empty
//!   (the reference registry's convention).
//! - `Location` headers are absolute paths (`/v2/...`), resolved by
//!   clients against the request URL.
//! - Several byte ranges in one `Range` are answered with the whole blob
//!   (RFC 9110 allows ignoring `Range`); chunk trailers are read and
//!   dropped; responses always carry `Content-Length` (never chunked).
//! - A body answered before it was read is dropped when it is small
//!   ([`Limits::discard_max`]); otherwise the connection closes after the
//!   answer. A failure in the middle of a blob response cuts the
//!   connection short of `Content-Length` (the status is already sent).
//! - Not here: authentication (no `UNAUTHORIZED` flow), the referrers tag
//!   schema fallback, garbage collection and abandoned-session cleanup
//!   (the storage service's job).

#![no_std]

extern crate alloc;

pub mod api;
pub mod backend;
mod conn;
pub mod error;
pub mod http;
pub mod manifest;
pub mod names;
mod router;
mod sink;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{Backend, ManifestPut, StoredManifest};
pub use conn::{Bulk, Connection, Timeout};
pub use error::{ApiError, BackendError, ErrorCode, STORAGE_FULL};
pub use names::{Digest, Reference};

/// Sizes and times a connection enforces. Times are in the unit of the
/// `now` values passed to [`Connection`] (milliseconds in the service).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request head (request line + headers): `431` beyond.
    pub max_head: usize,
    /// Largest manifest accepted: `413` beyond.
    pub max_manifest: usize,
    /// Largest blob accepted in one upload session: `413` beyond.
    pub max_blob: u64,
    /// Upload bytes are handed to the backend in pieces of this size.
    pub upload_piece: usize,
    /// A body we answered without needing is read and dropped up to this
    /// size to keep the connection; a larger one closes it.
    pub discard_max: u64,
    /// Close a connection when no byte moved for this long.
    pub idle_timeout: u64,
    /// A request head must arrive within this time of its first byte.
    pub head_timeout: u64,
    /// A request body must arrive within this time of its start, extended
    /// by `1000 / body_min_rate` per body byte received (Apache's
    /// `RequestReadTimeout body=20,MinRate=500`): a body sent at
    /// `body_min_rate` bytes per second or faster never hits it.
    pub body_timeout: u64,
    /// See `body_timeout` (bytes per 1000 time units).
    pub body_min_rate: u64,
    /// Most entries in one tags/catalog/referrers page.
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_manifest: 4 * 1024 * 1024,
            max_blob: 1 << 40,
            upload_piece: 256 * 1024,
            discard_max: 64 * 1024,
            idle_timeout: 60_000,
            head_timeout: 20_000,
            body_timeout: 20_000,
            body_min_rate: 500,
            max_page: 1000,
        }
    }
}
