//! The referrers API: `GET /v2/<name>/referrers/<digest>` answers an OCI
//! image index of the manifests whose `subject` is `<digest>`, optionally
//! only those of one `artifactType` (then `OCI-Filters-Applied`).

use super::parse_digest;
use crate::backend::Backend;
use crate::error::{ApiError, BackendError};
use crate::http::response::Response;
use crate::manifest::{self, OCI_INDEX};
use crate::names::{query_value, Reference};
use crate::router::{Ctx, Outcome};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

pub fn list<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str, digest: &str) -> Outcome {
    let subject = match parse_digest(digest) {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    let filter = match query_value(&cx.req.query, "artifactType") {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(())) => return parse_digest("").unwrap_err().into(),
    };
    // An unknown repository or subject has no referrers: an empty index.
    let digests = match cx.backend.referrers(repo, &subject) {
        Ok(d) => d,
        Err(BackendError::NameUnknown) => Vec::new(),
        Err(e) => return ApiError::from(e).into(),
    };
    let mut manifests = Vec::new();
    for d in digests.into_iter().take(cx.limits.max_page) {
        let m = match cx.backend.manifest_get(repo, &Reference::Digest(d)) {
            Ok(m) => m,
            // Deleted since it was listed: not a referrer any more.
            Err(BackendError::ManifestUnknown) => continue,
            Err(e) => return ApiError::from(e).into(),
        };
        let (artifact_type, annotations) = match manifest::parse(&m.body, Some(&m.media_type)) {
            Ok(p) => (p.artifact_type, p.annotations),
            Err(_) => (None, None),
        };
        if filter.is_some() && artifact_type != filter {
            continue;
        }
        manifests.push(Descriptor {
            media_type: m.media_type,
            digest: String::from(m.digest.as_str()),
            size: m.body.len() as u64,
            artifact_type,
            annotations,
        });
    }
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
    };
    let mut r = Response::new(200);
    if filter.is_some() {
        r = r.header("OCI-Filters-Applied", "artifactType");
    }
    r.json(serde_json::to_vec(&index).unwrap_or_default(), OCI_INDEX)
        .into()
}
