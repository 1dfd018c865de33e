//! Manifests: `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`
//! by tag or digest. Served with the media type they were pushed with and
//! `Docker-Content-Digest`; a push whose blobs or children are not in the
//! repository is refused with `MANIFEST_BLOB_UNKNOWN`.

use crate::backend::{Backend, ManifestPut};
use crate::error::{ApiError, BackendError, ErrorCode};
use crate::http::request::{Framing, Method};
use crate::http::response::{Body, Response};
use crate::manifest::{self, is_index};
use crate::names::Reference;
use crate::router::{Ctx, Outcome};
use crate::sink::{BodySink, SinkKind};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A manifest body being received (at most `Limits::max_manifest` bytes).
pub struct ManifestSink {
    repo: String,
    reference: Reference,
    content_type: Option<String>,
    buf: Vec<u8>,
}

impl ManifestSink {
    pub fn write(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn finish<B: Backend>(self, backend: &mut B) -> Response {
        match store(backend, &self) {
            Ok(r) => r,
            Err(e) => Response::error(&e),
        }
    }
}

fn store<B: Backend>(backend: &mut B, m: &ManifestSink) -> Result<Response, ApiError> {
    let parsed = manifest::parse(&m.buf, m.content_type.as_deref())?;
    for blob in &parsed.blobs {
        match backend.blob_stat(&m.repo, blob) {
            Ok(_) => {}
            Err(BackendError::BlobUnknown) => {
                return Err(ApiError::new(
                    ErrorCode::ManifestBlobUnknown,
                    "blob unknown to registry",
                )
                .with_detail(format!("blob {blob} is not in {}", m.repo)))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for child in &parsed.children {
        match backend.manifest_get(&m.repo, &Reference::Digest(child.clone())) {
            Ok(_) => {}
            Err(BackendError::ManifestUnknown) => {
                return Err(ApiError::new(
                    ErrorCode::ManifestBlobUnknown,
                    "manifest unknown to registry",
                )
                .with_detail(format!("child manifest {child} is not in {}", m.repo)))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let put = ManifestPut {
        media_type: &parsed.media_type,
        body: &m.buf,
        subject: parsed.subject.as_ref(),
    };
    let digest = backend.manifest_put(&m.repo, &m.reference, &put)?;
    let mut r = Response::new(201)
        .header("Location", format!("/v2/{}/manifests/{digest}", m.repo))
        .header("Docker-Content-Digest", digest.as_str());
    if let Some(s) = &parsed.subject {
        r = r.header("OCI-Subject", s.as_str());
    }
    Ok(r)
}

fn reference(s: &str, for_put: bool) -> Result<Reference, ApiError> {
    Reference::parse(s).ok_or_else(|| {
        if s.contains(':') {
            super::parse_digest(s).unwrap_err()
        } else if for_put {
            ApiError::new(ErrorCode::ManifestInvalid, "invalid tag")
                .with_detail(format!("tag {s:?}"))
        } else {
            ApiError::new(ErrorCode::ManifestUnknown, "manifest unknown")
                .with_detail(format!("{s:?} is not a valid tag"))
        }
    })
}

/// Whether a client whose `Accept` lists `accepted` takes `media_type`.
/// Single manifests are served whatever `Accept` says (as the reference
/// registry does); an index or manifest list only to a client that names
/// it (or a wildcard), since a client that does not know indexes cannot
/// use one.
fn acceptable(accepted: &[&str], media_type: &str) -> bool {
    !is_index(media_type)
        || accepted.is_empty()
        || accepted
            .iter()
            .any(|a| *a == media_type || *a == "*/*" || *a == "application/*")
}

pub fn get<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, r: &str) -> Outcome {
    let reference = match reference(r, false) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let m = match cx.backend.manifest_get(repo, &reference) {
        Ok(m) => m,
        Err(e) => return ApiError::from(e).into(),
    };
    if !acceptable(&cx.req.accepted_types(), &m.media_type) {
        return ApiError::new(ErrorCode::ManifestUnknown, "manifest unknown")
            .with_detail(format!(
                "{} is a {}, which the Accept header does not list",
                reference.as_str(),
                m.media_type
            ))
            .into();
    }
    let mut resp = Response::new(200)
        .header("Content-Type", m.media_type)
        .header("Docker-Content-Digest", m.digest.as_str())
        .header("ETag", format!("\"{}\"", m.digest));
    resp.body = Body::Bytes(m.body);
    resp.head_only = cx.req.method == Method::Head;
    resp.into()
}

pub fn put<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, r: &str) -> Outcome {
    let reference = match reference(r, true) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if cx.req.framing == Framing::None {
        return ApiError::new(ErrorCode::ManifestInvalid, "manifest body required").into();
    }
    Outcome::ReadBody(BodySink::new(
        SinkKind::Manifest(ManifestSink {
            repo: repo.into(),
            reference,
            content_type: cx.req.content_type.clone(),
            buf: Vec::new(),
        }),
        cx.limits.max_manifest as u64,
    ))
}

pub fn delete<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, r: &str) -> Outcome {
    let reference = match reference(r, false) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    // The digest it names, for `Docker-Content-Digest` on the answer.
    let digest = match cx.backend.manifest_get(repo, &reference) {
        Ok(m) => m.digest,
        Err(e) => return ApiError::from(e).into(),
    };
    super::deleted(cx.backend.manifest_delete(repo, &reference), &digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DOCKER_LIST, OCI_INDEX, OCI_MANIFEST};

    #[test]
    fn indexes_are_only_served_to_clients_that_accept_them() {
        assert!(acceptable(&[], OCI_INDEX));
        assert!(acceptable(&[OCI_MANIFEST], OCI_MANIFEST));
        assert!(acceptable(&["application/json"], OCI_MANIFEST));
        assert!(!acceptable(&[OCI_MANIFEST], OCI_INDEX));
        assert!(!acceptable(&[OCI_INDEX], DOCKER_LIST));
        assert!(acceptable(&[OCI_MANIFEST, "*/*"], DOCKER_LIST));
    }
}
