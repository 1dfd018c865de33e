//! Where the registry keeps things: the reference registry's (distribution
//! 2.8.2) filesystem tree, byte for byte (see shared/notes/registry-layout.md).
//!
//! ```text
//! /docker/registry/v2/
//!   blobs/<alg>/<first 2 hex>/<hex>/data
//!   repositories/<name...>/
//!     _layers/<alg>/<hex>/link
//!     _manifests/revisions/<alg>/<hex>/link
//!     _manifests/tags/<tag>/current/link
//!     _manifests/tags/<tag>/index/<alg>/<hex>/link
//!     _uploads/<id>/{data,startedat}
//!   _uploads/<id>/{data,startedat}     uploads not tied to a repository
//! ```
//! Paths are built only from validated names, tags and digests
//! ([`crate::names`]), so none can contain `..` or leave its directory.

use crate::names::{Digest, RepoName, Tag};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::FsError;
use crate::fs::components;

/// Root of the registry tree inside the filesystem.
pub const ROOT: &str = "/docker/registry/v2";
pub const REPOSITORIES: &str = "/docker/registry/v2/repositories";
pub const BLOBS: &str = "/docker/registry/v2/blobs";
/// Uploads that belong to no repository (the blob-store style `put_blob`).
pub const GLOBAL_UPLOADS: &str = "/docker/registry/v2/_uploads";

/// The directories of `path` (a path built here, so under [`ROOT`]) below
/// [`ROOT`], and its last component: to walk the root once for two paths.
pub(crate) fn below_root(path: &str) -> Result<(Vec<&str>, &str), FsError> {
    let comps = components(path)?;
    let root = components(ROOT)?;
    match comps.split_last() {
        Some((name, dirs)) if dirs.starts_with(&root) => Ok((dirs[root.len()..].to_vec(), name)),
        _ => Err(FsError::InvalidPath {
            path: path.to_string(),
            reason: "not below the registry root",
        }),
    }
}

pub fn blob_dir(d: &Digest) -> String {
    let hex = d.hex();
    // Digest::hex has at least 64 characters (validated), so [..2] is in bounds.
    format!("{BLOBS}/{}/{}/{hex}", d.algorithm().name(), &hex[..2])
}

pub fn blob_data(d: &Digest) -> String {
    format!("{}/data", blob_dir(d))
}

pub fn repo_dir(name: &RepoName) -> String {
    format!("{REPOSITORIES}/{name}")
}

pub fn layers_dir(name: &RepoName) -> String {
    format!("{REPOSITORIES}/{name}/_layers")
}

pub fn layer_link_dir(name: &RepoName, d: &Digest) -> String {
    format!("{}/{}/{}", layers_dir(name), d.algorithm().name(), d.hex())
}

pub fn layer_link(name: &RepoName, d: &Digest) -> String {
    format!("{}/link", layer_link_dir(name, d))
}

pub fn manifests_dir(name: &RepoName) -> String {
    format!("{REPOSITORIES}/{name}/_manifests")
}

pub fn revision_link_dir(name: &RepoName, d: &Digest) -> String {
    format!(
        "{}/revisions/{}/{}",
        manifests_dir(name),
        d.algorithm().name(),
        d.hex()
    )
}

pub fn revision_link(name: &RepoName, d: &Digest) -> String {
    format!("{}/link", revision_link_dir(name, d))
}

pub fn tags_dir(name: &RepoName) -> String {
    format!("{}/tags", manifests_dir(name))
}

pub fn tag_dir(name: &RepoName, tag: &Tag) -> String {
    format!("{}/{tag}", tags_dir(name))
}

pub fn tag_current_link(name: &RepoName, tag: &Tag) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

pub fn tag_index_link(name: &RepoName, tag: &Tag, d: &Digest) -> String {
    format!(
        "{}/index/{}/{}/link",
        tag_dir(name, tag),
        d.algorithm().name(),
        d.hex()
    )
}

/// The uploads directory of a repository, or the global one.
pub fn uploads_dir(name: Option<&RepoName>) -> String {
    match name {
        Some(name) => format!("{REPOSITORIES}/{name}/_uploads"),
        None => String::from(GLOBAL_UPLOADS),
    }
}

pub fn upload_dir(name: Option<&RepoName>, id: &str) -> String {
    format!("{}/{id}", uploads_dir(name))
}

pub fn upload_data(name: Option<&RepoName>, id: &str) -> String {
    format!("{}/data", upload_dir(name, id))
}

pub fn upload_startedat(name: Option<&RepoName>, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

    #[test]
    fn reference_tree() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        let repo = RepoName::parse("myorg/team/image").unwrap();
        let tag = Tag::parse("v1.0").unwrap();
        assert_eq!(
            blob_data(&d),
            format!("/docker/registry/v2/blobs/sha256/a3/{HEX}/data")
        );
        assert_eq!(
            layer_link(&repo, &d),
            format!("/docker/registry/v2/repositories/myorg/team/image/_layers/sha256/{HEX}/link")
        );
        assert_eq!(
            revision_link(&repo, &d),
            format!(
                "/docker/registry/v2/repositories/myorg/team/image/_manifests/revisions/sha256/{HEX}/link"
            )
        );
        assert_eq!(
            tag_current_link(&repo, &tag),
            "/docker/registry/v2/repositories/myorg/team/image/_manifests/tags/v1.0/current/link"
        );
        assert_eq!(
            tag_index_link(&repo, &tag, &d),
            format!(
                "/docker/registry/v2/repositories/myorg/team/image/_manifests/tags/v1.0/index/sha256/{HEX}/link"
            )
        );
        assert_eq!(
            upload_data(Some(&repo), "0001"),
            "/docker/registry/v2/repositories/myorg/team/image/_uploads/0001/data"
        );
        assert_eq!(
            upload_data(None, "7"),
            "/docker/registry/v2/_uploads/7/data"
        );
        assert_eq!(
            upload_startedat(None, "7"),
            "/docker/registry/v2/_uploads/7/startedat"
        );
        let b3 = Digest::parse(&format!("blake3:{HEX}")).unwrap();
        assert_eq!(
            blob_data(&b3),
            format!("/docker/registry/v2/blobs/blake3/a3/{HEX}/data")
        );
    }
}
