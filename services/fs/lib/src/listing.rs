//! Registry listings a page at a time: the fs service answers `repos`,
//! `tags` and `uploads` from pages of [`Registry::list_tags_page`],
//! [`Registry::list_repositories_page`] and [`Registry::list_uploads_page`],
//! so it never holds a whole list.
//!
//! Repository names are paged in path order: component by component, each
//! directory's children in byte order (`a`, `a/b`, `a-c`), the order a
//! depth-first walk of `repositories/` meets them. A page after `after`
//! skips every subtree wholly before it unread.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use block::Transactional;

use crate::chunks::Chunks;
use crate::layout;
use crate::names::RepoName;
use crate::registry::{Registry, RegistryError};

/// An open resumable upload session as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub id: u64,
    /// Bytes received so far.
    pub bytes: u64,
    /// When it was last written (its data file's mtime; its directory's
    /// when a crash left no data file): what idle time counts from.
    pub mtime: u64,
}

/// Entries read per directory listing call.
const DIR_PAGE: usize = 256;

/// Compares two repository names in path order (component-wise).
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Up to `limit` tags of `repo` that sort after `after`, in order.
    pub fn list_tags_page(
        &mut self,
        repo: &RepoName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, RegistryError> {
        match self.fs().list(&layout::tags_dir(repo), after, limit) {
            Ok(page) => Ok(page.into_iter().map(|e| e.name).collect()),
            Err(e) if crate::registry::is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` upload sessions of `repo` with ids above `after`, in id
    /// order. Names under `_uploads/` that are no session id are skipped.
    pub fn list_uploads_page(
        &mut self,
        repo: &RepoName,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<UploadInfo>, RegistryError> {
        let dir = layout::uploads_dir(Some(repo));
        let mut out = Vec::new();
        let mut cursor = after.map(crate::upload_id_text);
        while out.len() < limit {
            let want = limit - out.len();
            let page = match self.fs().list(&dir, cursor.as_deref(), want) {
                Ok(p) => p,
                Err(e) if crate::registry::is_not_found(&e) => break,
                Err(e) => return Err(e.into()),
            };
            let Some(last) = page.last() else {
                break;
            };
            cursor = Some(last.name.clone());
            for e in page {
                let Some(id) = crate::parse_upload_id(&e.name) else {
                    continue;
                };
                let data = layout::upload_data(Some(repo), &e.name);
                let (bytes, mtime) = match self.fs().stat(&data) {
                    Ok(m) => (m.size, m.mtime),
                    Err(crate::error::FsError::NotFound { .. }) => (
                        0,
                        self.fs()
                            .stat(&layout::upload_dir(Some(repo), &e.name))?
                            .mtime,
                    ),
                    Err(e) => return Err(e.into()),
                };
                out.push(UploadInfo { id, bytes, mtime });
            }
        }
        Ok(out)
    }

    /// Up to `limit` repository names (directories under `repositories/`
    /// with a `_layers` child) after `after` in path order. Memory: the page
    /// and one directory page per level of the path being walked.
    pub fn list_repositories_page(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        self.walk_repos(String::new(), "_layers", after, limit, &mut out)?;
        Ok(out)
    }

    /// Up to `limit` names of repositories with an `_uploads` child (open
    /// or once-open upload sessions) after `after` in path order: what the
    /// shell's `uploads` lists from. Not the catalog's rule: a push that
    /// failed before its first blob was stored (the disk full, say) leaves
    /// a session in a repository that has no `_layers` yet, and its bytes
    /// must still be found to be removed.
    pub fn list_upload_repositories_page(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        self.walk_repos(String::new(), "_uploads", after, limit, &mut out)?;
        Ok(out)
    }

    /// Depth-first from repository prefix `name` ("" for the top): the
    /// directories with a `marker` child.
    fn walk_repos(
        &mut self,
        name: String,
        marker: &str,
        after: Option<&str>,
        limit: usize,
        out: &mut Vec<String>,
    ) -> Result<(), RegistryError> {
        let dir = if name.is_empty() {
            String::from(layout::REPOSITORIES)
        } else {
            alloc::format!("{}/{name}", layout::REPOSITORIES)
        };
        // The repository itself comes before its children (looked up, not
        // listed: digits sort before the marker).
        if !name.is_empty()
            && after.is_none_or(|a| path_order(&name, a).is_gt())
            && self.fs().exists(&alloc::format!("{dir}/{marker}"))?
        {
            out.push(name.clone());
        }
        let mut cursor: Option<String> = None;
        while out.len() < limit {
            let page = match self.fs().list(&dir, cursor.as_deref(), DIR_PAGE) {
                Ok(p) => p,
                Err(e) if crate::registry::is_not_found(&e) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let Some(last) = page.last() else {
                break;
            };
            cursor = Some(last.name.clone());
            for c in page {
                if c.name.starts_with('_') || c.kind != crate::records::Kind::Dir {
                    continue;
                }
                let child = if name.is_empty() {
                    c.name
                } else {
                    alloc::format!("{name}/{}", c.name)
                };
                // Skip a subtree wholly before `after`: it sorts before
                // `after` and is not a prefix of it.
                if let Some(a) = after {
                    let prefix = a == child || a.starts_with(&alloc::format!("{child}/"));
                    if path_order(&child, a).is_le() && !prefix {
                        continue;
                    }
                }
                self.walk_repos(child, marker, after, limit, out)?;
                if out.len() >= limit {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
