//! Blobs: `HEAD`/`GET /v2/<name>/blobs/<digest>` (with `Range` → `206`)
//! and `DELETE`. A GET body is streamed from the backend while sending.

use super::parse_digest;
use crate::backend::Backend;
use crate::error::{ApiError, ErrorCode};
use crate::http::request::Method;
use crate::http::response::{Body, Response};
use crate::router::{Ctx, Outcome};
use alloc::format;

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No usable range: the whole blob, `200`.
    Whole,
    /// Inclusive byte range within the blob.
    Part(u64, u64),
    /// Outside the blob: `416`.
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, size: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole; // several ranges: ignoring Range is allowed
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last `b` bytes.
        return match b.parse::<u64>() {
            Ok(0) | Err(_) => RangeAsk::Unsatisfiable,
            Ok(_) if size == 0 => RangeAsk::Unsatisfiable,
            Ok(n) => RangeAsk::Part(size.saturating_sub(n), size - 1),
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeAsk::Whole;
    };
    if start >= size {
        return RangeAsk::Unsatisfiable;
    }
    let end = if b.is_empty() {
        size - 1
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size - 1),
            _ => return RangeAsk::Whole,
        }
    };
    RangeAsk::Part(start, end)
}

pub fn get<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, digest: &str) -> Outcome {
    let digest = match parse_digest(digest) {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    let size = match cx.backend.blob_stat(repo, &digest) {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into(),
    };
    let head_only = cx.req.method == Method::Head;
    let (status, offset, len) = match parse_range(cx.req.range.as_deref(), size) {
        RangeAsk::Whole => (200, 0, size),
        RangeAsk::Part(a, b) => (206, a, b - a + 1),
        RangeAsk::Unsatisfiable => {
            let e = ApiError::new(ErrorCode::BlobUnknown, "requested range not satisfiable")
                .with_status(416);
            return Response::error(&e)
                .header("Content-Range", format!("bytes */{size}"))
                .into();
        }
    };
    let mut r = Response::new(status)
        .header("Content-Type", "application/octet-stream")
        .header("Docker-Content-Digest", digest.as_str())
        .header("Accept-Ranges", "bytes");
    if status == 206 {
        r = r.header(
            "Content-Range",
            format!("bytes {offset}-{}/{size}", offset + len - 1),
        );
    }
    r.body = Body::Blob {
        repo: repo.into(),
        digest,
        offset,
        len,
    };
    r.head_only = head_only;
    r.into()
}

pub fn delete<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, digest: &str) -> Outcome {
    let digest = match parse_digest(digest) {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    super::deleted(cx.backend.blob_delete(repo, &digest), &digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(None, 10), RangeAsk::Whole);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), RangeAsk::Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeAsk::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), RangeAsk::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), RangeAsk::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), RangeAsk::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeAsk::Whole);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), RangeAsk::Whole);
    }
}
