//! Manifest JSON: which media types are served, and what a pushed manifest
//! refers to (config, layers, index children, subject), parsed with
//! `serde_json`. Unknown fields are ignored; the stored bytes are always
//! the pushed bytes, never a re-serialization.

use crate::error::{ApiError, ErrorCode};
use crate::names::Digest;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Index kinds: GET negotiates them (a client that does not accept one is
/// not handed one).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: Option<u64>,
    urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What the router needs of a pushed manifest.
#[derive(Debug)]
pub struct Parsed {
    pub media_type: String,
    /// Config and layers that must be blobs of the repository.
    pub blobs: Vec<Digest>,
    /// Index children that must be manifests of the repository.
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    /// `artifactType`, else the config's media type (the referrers rule).
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ManifestInvalid, "manifest invalid").with_detail(msg)
}

fn digest_of(d: &RawDescriptor) -> Result<Digest, ApiError> {
    if d.size.is_none() {
        return Err(invalid(alloc::format!(
            "descriptor {} has no size",
            d.digest
        )));
    }
    Digest::parse(&d.digest).ok_or_else(|| {
        invalid(alloc::format!(
            "descriptor digest {:?} is invalid",
            d.digest
        ))
    })
}

/// A layer the registry never holds (Docker foreign layers, OCI
/// non-distributable): only its `urls` serve it.
fn is_foreign(d: &RawDescriptor) -> bool {
    let mt = d.media_type.as_deref().unwrap_or("");
    d.urls.as_ref().is_some_and(|u| !u.is_empty())
        && (mt.contains("foreign") || mt.contains("nondistributable"))
}

/// Parses and checks a manifest pushed with `content_type`.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Parsed, ApiError> {
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| invalid(alloc::format!("not a manifest: {e}")))?;
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let media_type = match (ct, raw.media_type.as_deref()) {
        (Some(c), Some(m)) if c != m => {
            return Err(invalid(alloc::format!(
                "Content-Type {c} differs from mediaType {m}"
            )))
        }
        (Some(c), _) => String::from(c),
        (None, Some(m)) => String::from(m),
        (None, None) => return Err(invalid("no media type: set Content-Type or mediaType")),
    };
    if raw.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let mut parsed = Parsed {
        media_type,
        blobs: Vec::new(),
        children: Vec::new(),
        subject: raw.subject.as_ref().map(digest_of).transpose()?,
        artifact_type: raw.artifact_type.clone(),
        annotations: raw.annotations,
    };
    match parsed.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = raw.config.as_ref().ok_or_else(|| invalid("no config"))?;
            let layers = raw.layers.as_ref().ok_or_else(|| invalid("no layers"))?;
            parsed.blobs.push(digest_of(config)?);
            if parsed.artifact_type.is_none() {
                parsed.artifact_type = config.media_type.clone();
            }
            for l in layers {
                let d = digest_of(l)?;
                if !is_foreign(l) {
                    parsed.blobs.push(d);
                }
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            let children = raw
                .manifests
                .as_ref()
                .ok_or_else(|| invalid("no manifests"))?;
            for c in children {
                parsed.children.push(digest_of(c)?);
            }
        }
        other => {
            return Err(invalid(alloc::format!(
                "unsupported manifest media type {other}"
            )));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        alloc::format!("sha256:{}", core::iter::repeat_n(c, 64).collect::<String>())
    }

    #[test]
    fn image_manifest_lists_its_blobs_and_subject() {
        let body = alloc::format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/x.cfg","digest":"{}","size":2}},"layers":[{{"mediaType":"l","digest":"{}","size":3}}],"subject":{{"mediaType":"m","digest":"{}","size":9}},"extra":1}}"#,
            d('a'),
            d('b'),
            d('c')
        );
        let p = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(p.subject.unwrap().as_str(), d('c'));
        assert_eq!(p.artifact_type.as_deref(), Some("application/x.cfg"));
    }

    #[test]
    fn bad_manifests_are_manifest_invalid() {
        let bad = [
            (r#"{"schemaVersion":2}"#, None),
            ("not json", Some(OCI_MANIFEST)),
            (r#"{"schemaVersion":1,"mediaType":"x"}"#, None),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
                Some(OCI_MANIFEST),
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":1}]}"#,
                Some(OCI_INDEX),
            ),
            (r#"{"schemaVersion":2,"config":{}}"#, Some(OCI_MANIFEST)),
        ];
        for (b, ct) in bad {
            assert_eq!(
                parse(b.as_bytes(), ct).unwrap_err().code,
                ErrorCode::ManifestInvalid,
                "{b}"
            );
        }
    }
}
