//! The OCI Distribution API endpoints, one module per group.

pub mod blobs;
pub mod listing;
pub mod manifests;
pub mod referrers;
pub mod uploads;

use crate::error::{ApiError, ErrorCode};
use crate::names::Digest;

/// A digest from a URL or query, or `DIGEST_INVALID`.
pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).ok_or_else(|| {
        ApiError::new(ErrorCode::DigestInvalid, "provided digest is invalid").with_detail(
            alloc::format!("digest {s:?}: only sha256:<64 lowercase hex> is accepted"),
        )
    })
}
