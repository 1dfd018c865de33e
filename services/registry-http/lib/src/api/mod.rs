//! The OCI Distribution API endpoints, one module per group.

pub mod blobs;
pub mod listing;
pub mod manifests;
pub mod referrers;
pub mod uploads;

use crate::error::{ApiError, BackendError, ErrorCode};
use crate::http::response::Response;
use crate::names::Digest;
use crate::router::Outcome;

/// A digest from a URL or query, or `DIGEST_INVALID`.
pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).ok_or_else(|| {
        ApiError::new(ErrorCode::DigestInvalid, "provided digest is invalid").with_detail(
            alloc::format!("digest {s:?}: only sha256:<64 lowercase hex> is accepted"),
        )
    })
}

/// The answer to a DELETE of a blob or manifest: `202 Accepted` naming the
/// digest removed, or the backend's error.
pub fn deleted(result: Result<(), BackendError>, digest: &Digest) -> Outcome {
    match result {
        Ok(()) => Response::new(202)
            .header("Docker-Content-Digest", digest.as_str())
            .into(),
        Err(e) => ApiError::from(e).into(),
    }
}
