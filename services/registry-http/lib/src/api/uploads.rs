//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (new session, monolithic
//! with `?digest=`, or cross-repository `?mount=&from=`), `PATCH`, `PUT
//! ?digest=`, `GET` (status), `DELETE` (cancel) on
//! `/v2/<name>/blobs/uploads/<id>`.
//!
//! Body bytes go to the backend in pieces of at most
//! [`crate::Limits::upload_piece`]; a `202` is sent only after the last
//! append returned, so what it reports is durable.

use super::parse_digest;
use crate::backend::Backend;
use crate::error::{ApiError, BackendError, ErrorCode};
use crate::http::request::Framing;
use crate::http::response::Response;
use crate::names::{query_value, valid_name, valid_upload_id, Digest};
use crate::router::{Ctx, Outcome};
use crate::sink::{BodySink, SinkKind};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A request body on its way into an upload session.
pub struct UploadSink {
    repo: String,
    id: String,
    /// Bytes the session durably holds.
    offset: u64,
    staging: Vec<u8>,
    piece: usize,
    /// `PUT`/monolithic `POST`: the digest to finish with.
    finish: Option<Digest>,
    /// The session was opened by this request (monolithic `POST`): cancel
    /// it on any failure so nothing is left behind.
    owned: bool,
    /// `Content-Range` end + 1, checked against what arrived.
    expected_end: Option<u64>,
}

impl UploadSink {
    pub fn write<B: Backend>(&mut self, backend: &mut B, data: &[u8]) -> Result<(), ApiError> {
        if self.staging.is_empty() && data.len() >= self.piece {
            // Large pieces go straight through, without a copy.
            self.offset = backend.upload_append(&self.repo, &self.id, self.offset, data)?;
            return Ok(());
        }
        let mut data = data;
        while !data.is_empty() {
            let take = (self.piece - self.staging.len()).min(data.len());
            self.staging.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.staging.len() == self.piece {
                self.flush(backend)?;
            }
        }
        Ok(())
    }

    fn flush<B: Backend>(&mut self, backend: &mut B) -> Result<(), ApiError> {
        if !self.staging.is_empty() {
            self.offset =
                backend.upload_append(&self.repo, &self.id, self.offset, &self.staging)?;
            self.staging.clear();
        }
        Ok(())
    }

    pub fn finish<B: Backend>(mut self, backend: &mut B, _received: u64) -> Response {
        if let Err(e) = self.flush(backend) {
            self.abort(backend);
            return Response::error(&e);
        }
        if let Some(end) = self.expected_end {
            if end != self.offset {
                let e = ApiError::new(
                    ErrorCode::SizeInvalid,
                    "body length differs from Content-Range",
                )
                .with_detail(format!("upload now holds {} bytes", self.offset));
                return session_headers(Response::error(&e), &self.repo, &self.id, self.offset);
            }
        }
        match self.finish.take() {
            None => session_headers(Response::new(202), &self.repo, &self.id, self.offset),
            Some(digest) => finish_session(backend, &self.repo, &self.id, &digest),
        }
    }

    pub fn abort<B: Backend>(self, backend: &mut B) {
        if self.owned {
            let _ = backend.upload_cancel(&self.repo, &self.id);
        }
    }
}

/// `Location`, `Range` and `Docker-Upload-UUID` of a session answer.
fn session_headers(r: Response, repo: &str, id: &str, offset: u64) -> Response {
    // The reference registry's convention: "0-0" for an empty session.
    let last = offset.saturating_sub(1);
    r.header("Location", format!("/v2/{repo}/blobs/uploads/{id}"))
        .header("Range", format!("0-{last}"))
        .header("Docker-Upload-UUID", id)
}

fn blob_created(repo: &str, digest: &Digest) -> Response {
    Response::new(201)
        .header("Location", format!("/v2/{repo}/blobs/{digest}"))
        .header("Docker-Content-Digest", digest.as_str())
}

/// Completes a session; on a digest or size error the session is dropped
/// (as the reference registry does) so nothing unverified is kept.
fn finish_session<B: Backend>(backend: &mut B, repo: &str, id: &str, digest: &Digest) -> Response {
    match backend.upload_finish(repo, id, digest) {
        Ok(_) => blob_created(repo, digest),
        Err(e) => {
            if matches!(
                e,
                BackendError::DigestMismatch { .. } | BackendError::SizeInvalid(_)
            ) {
                let _ = backend.upload_cancel(repo, id);
            }
            Response::error(&ApiError::from(e))
        }
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_upload_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::BlobUploadUnknown,
            "blob upload unknown to registry",
        ))
    }
}

fn digest_query(query: &str, key: &str) -> Result<Option<Digest>, ApiError> {
    match query_value(query, key) {
        None => Ok(None),
        Some(Err(())) => Err(parse_digest("<bad percent-encoding>").unwrap_err()),
        Some(Ok(v)) => parse_digest(&v).map(Some),
    }
}

fn has_body(framing: Framing) -> bool {
    framing != Framing::None
}

pub fn start<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str) -> Outcome {
    let q = cx.req.query.as_str();
    if let Some(mount) = query_value(q, "mount") {
        let digest = match mount.ok().map(|m| parse_digest(&m)) {
            Some(Ok(d)) => d,
            Some(Err(e)) => return e.into(),
            None => return parse_digest("<bad percent-encoding>").unwrap_err().into(),
        };
        // A missing or invalid `from` falls back to an upload, as the
        // reference registry does.
        if let Some(Ok(from)) = query_value(q, "from") {
            if valid_name(&from) && from != repo {
                match cx.backend.blob_mount(repo, &from, &digest) {
                    Ok(true) => return blob_created(repo, &digest).into(),
                    Ok(false) => {}
                    Err(e) => return ApiError::from(e).into(),
                }
            } else if from == repo && cx.backend.blob_stat(repo, &digest).is_ok() {
                return blob_created(repo, &digest).into();
            }
        }
    }
    let digest = match digest_query(q, "digest") {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    let id = match cx.backend.upload_start(repo) {
        Ok(id) if valid_upload_id(&id) => id,
        Ok(id) => {
            let _ = cx.backend.upload_cancel(repo, &id);
            return ApiError::from(BackendError::Internal(format!(
                "backend gave bad upload id {id:?}"
            )))
            .into();
        }
        Err(e) => return ApiError::from(e).into(),
    };
    match digest {
        None => session_headers(Response::new(202), repo, &id, 0).into(),
        Some(d) if !has_body(cx.req.framing) => finish_session(cx.backend, repo, &id, &d).into(),
        Some(d) => Outcome::ReadBody(BodySink::new(
            SinkKind::Upload(UploadSink {
                repo: repo.into(),
                id,
                offset: 0,
                staging: Vec::new(),
                piece: cx.limits.upload_piece,
                finish: Some(d),
                owned: true,
                expected_end: None,
            }),
            cx.limits.max_blob,
        )),
    }
}

/// Parses `Content-Range: <start>-<end>` (a `bytes ` or `bytes=` prefix
/// tolerated).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes=")
        .or_else(|| v.strip_prefix("bytes "))
        .unwrap_or(v);
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// Shared by PATCH and PUT: checks the session and `Content-Range`, then
/// asks for the body (or finishes at once when there is none).
fn append<B: Backend>(
    cx: &mut Ctx<'_, B>,
    repo: &str,
    id: &str,
    finish: Option<Digest>,
) -> Outcome {
    if let Err(e) = check_id(id) {
        return e.into();
    }
    let current = match cx.backend.upload_status(repo, id) {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into(),
    };
    let mut expected_end = None;
    if let Some(cr) = cx.req.content_range.as_deref() {
        let Some((start, end)) = parse_content_range(cr) else {
            let e = ApiError::new(ErrorCode::BlobUploadInvalid, "invalid Content-Range")
                .with_status(416);
            return session_headers(Response::error(&e), repo, id, current).into();
        };
        if start != current {
            let e: ApiError = BackendError::OffsetMismatch { current }.into();
            return session_headers(Response::error(&e), repo, id, current).into();
        }
        let len = end - start + 1;
        match cx.req.framing {
            Framing::Length(n) if n != len => {
                return ApiError::new(
                    ErrorCode::SizeInvalid,
                    "Content-Length differs from Content-Range",
                )
                .into()
            }
            Framing::None => {
                return ApiError::new(ErrorCode::SizeInvalid, "Content-Range without a body").into()
            }
            _ => {}
        }
        expected_end = Some(end + 1);
    }
    if !has_body(cx.req.framing) {
        return match finish {
            Some(d) => finish_session(cx.backend, repo, id, &d).into(),
            None => session_headers(Response::new(202), repo, id, current).into(),
        };
    }
    Outcome::ReadBody(BodySink::new(
        SinkKind::Upload(UploadSink {
            repo: repo.into(),
            id: id.into(),
            offset: current,
            staging: Vec::new(),
            piece: cx.limits.upload_piece,
            finish,
            owned: false,
            expected_end,
        }),
        cx.limits.max_blob.saturating_sub(current),
    ))
}

pub fn patch<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, id: &str) -> Outcome {
    append(cx, repo, id, None)
}

pub fn put<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, id: &str) -> Outcome {
    match digest_query(&cx.req.query, "digest") {
        Ok(Some(d)) => append(cx, repo, id, Some(d)),
        Ok(None) => {
            ApiError::new(ErrorCode::DigestInvalid, "digest query parameter required").into()
        }
        Err(e) => e.into(),
    }
}

pub fn status<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, id: &str) -> Outcome {
    if let Err(e) = check_id(id) {
        return e.into();
    }
    match cx.backend.upload_status(repo, id) {
        Ok(n) => session_headers(Response::new(204), repo, id, n).into(),
        Err(e) => ApiError::from(e).into(),
    }
}

pub fn cancel<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, id: &str) -> Outcome {
    if let Err(e) = check_id(id) {
        return e.into();
    }
    match cx.backend.upload_cancel(repo, id) {
        Ok(()) => Response::new(204).into(),
        Err(e) => ApiError::from(e).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(parse_content_range("0-9"), Some((0, 9)));
        assert_eq!(parse_content_range("bytes=5-5"), Some((5, 5)));
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x-1"), None);
    }
}
