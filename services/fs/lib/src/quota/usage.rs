//! Keeping usage right: what a file counts toward (by its path), the hook
//! every size change, appearance and removal of a file calls inside its
//! transaction, and the recount that `quota_set` and `fsck` use.
//!
//! A file's share of a target is a function of its path, its size and
//! whether it exists (a link counts its blob's size whatever its own), so
//! each step's change of usage is that function after minus before, and
//! the recount is the same function summed over the tree: the two cannot
//! drift apart. A blob's size changing (stored, removed, moved in or out
//! of `blobs/`) changes the share of every counted link that names it:
//! those are found by looking up the blob's link in each repository that
//! has a limit (a few lookups per limit).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;

use super::{QuotaTarget, Usage, KIND_DIR, KIND_REPO};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::layout;
use crate::names::{Algorithm, Digest, RepoName};
use crate::records::{Inode, Kind, ROOT_INO, STAGING_DIR};

/// What a repository counts a file as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoItem {
    /// `_uploads/<id>/data`: its size.
    Upload,
    /// A layer or revision link: the size of the blob it names.
    Link(Digest),
}

/// Where a file at a path counts.
#[derive(Debug, Default)]
pub(crate) struct Place {
    /// Its top-level directory (none for a file directly in `/`).
    pub dir: Option<String>,
    pub repo: Option<(RepoName, RepoItem)>,
    /// The blob it is, when it is `blobs/<alg>/<2 hex>/<hex>/data`.
    pub blob: Option<Digest>,
}

/// What [`Fs::walk_files`] calls for each file: its path and size.
type VisitFile<'a, F> = dyn FnMut(&mut F, &[Vec<u8>], u64) -> Result<(), FsError> + 'a;

const REGISTRY: [&[u8]; 3] = [b"docker", b"registry", b"v2"];

fn text(c: &[u8]) -> Option<&str> {
    core::str::from_utf8(c).ok()
}

fn digest(alg: &[u8], hex: &[u8]) -> Option<Digest> {
    let alg = Algorithm::from_name(text(alg)?)?;
    Digest::from_hex(alg, text(hex)?).ok()
}

impl Place {
    pub fn of(comps: &[Vec<u8>]) -> Place {
        let mut p = Place::default();
        if comps.len() >= 2 {
            p.dir = text(&comps[0]).map(String::from);
        }
        let under_registry =
            comps.len() > 4 && comps.iter().zip(REGISTRY).all(|(c, r)| c.as_slice() == r);
        if !under_registry {
            return p;
        }
        let rest = &comps[3..];
        match rest.first().map(Vec::as_slice) {
            Some(b"blobs") => {
                if let [_, alg, _, hex, data] = rest {
                    if data.as_slice() == b"data" {
                        p.blob = digest(alg, hex);
                    }
                }
            }
            Some(b"repositories") => {
                // Repository name components never start with '_'
                // (names.rs): the first that does ends the name.
                let Some(end) = rest.iter().position(|c| c.first() == Some(&b'_')) else {
                    return p;
                };
                let Some(name) = rest.get(1..end).filter(|n| !n.is_empty()) else {
                    return p;
                };
                let mut joined = String::new();
                for (i, c) in name.iter().enumerate() {
                    if i > 0 {
                        joined.push('/');
                    }
                    joined.push_str(text(c).unwrap_or("\u{0}"));
                }
                let Ok(repo) = RepoName::parse(&joined) else {
                    return p;
                };
                let tail: Vec<&[u8]> = rest[end..].iter().map(Vec::as_slice).collect();
                let item = match tail.as_slice() {
                    [b"_uploads", _, b"data"] => Some(RepoItem::Upload),
                    [b"_layers", alg, hex, b"link"] => digest(alg, hex).map(RepoItem::Link),
                    [b"_manifests", b"revisions", alg, hex, b"link"] => {
                        digest(alg, hex).map(RepoItem::Link)
                    }
                    _ => None,
                };
                p.repo = item.map(|i| (repo, i));
            }
            _ => {}
        }
        p
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// The path components of `inode` (walking parents); `None` for a
    /// staging file of a put (it is in no directory yet).
    pub(crate) fn live_path_of(&mut self, inode: &Inode) -> Result<Option<Vec<Vec<u8>>>, FsError> {
        let mut comps = vec![inode.name.clone()];
        let mut at = inode.parent;
        // A parent chain longer than the tree has entries loops.
        let mut budget = self.state.live.entries;
        while at != ROOT_INO {
            if at == STAGING_DIR {
                return Ok(None);
            }
            budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                what: "parent chain loops",
                ino: at,
            })?;
            let dir = self.get_inode(at)?;
            comps.push(dir.name);
            at = dir.parent;
        }
        comps.reverse();
        Ok(Some(comps))
    }

    /// The size of blob `d` (0 when it is not stored).
    fn blob_bytes(&mut self, d: &Digest) -> Result<u64, FsError> {
        match self.stat(&layout::blob_data(d)) {
            Ok(m) if m.kind == Kind::File => Ok(m.size),
            Ok(_) => Ok(0),
            Err(e) if crate::registry::is_not_found(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn file_exists(&mut self, path: &str) -> Result<bool, FsError> {
        match self.stat(path) {
            Ok(m) => Ok(m.kind == Kind::File),
            Err(e) if crate::registry::is_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds `delta` to `target`'s usage, if it has a limit; a rise past
    /// the limit fails (the caller's transaction is then undone).
    fn charge(&mut self, target: &QuotaTarget, delta: i128) -> Result<(), FsError> {
        if delta == 0 {
            return Ok(());
        }
        let Some(u) = self.quota_get(target)? else {
            return Ok(());
        };
        let used = (i128::from(u.used) + delta).clamp(0, i128::from(u64::MAX)) as u64;
        if delta > 0 && used > u.limit {
            return Err(FsError::QuotaExceeded {
                target: target.clone(),
                would: used,
                limit: u.limit,
            });
        }
        self.quota_put(target, Usage { used, ..u })
    }

    /// The hook: file `inode` had `before` bytes (`None`: it did not
    /// exist at its path) and has `after`. Called inside the operation's
    /// transaction by every change of a file's size or place.
    pub(crate) fn quota_file_changed(
        &mut self,
        inode: &Inode,
        before: Option<u64>,
        after: Option<u64>,
    ) -> Result<(), FsError> {
        if before == after || !self.has_quotas(None)? {
            return Ok(());
        }
        let Some(comps) = self.live_path_of(inode)? else {
            return Ok(());
        };
        self.quota_path_changed(&comps, before, after)
    }

    pub(crate) fn quota_path_changed(
        &mut self,
        comps: &[Vec<u8>],
        before: Option<u64>,
        after: Option<u64>,
    ) -> Result<(), FsError> {
        let size = |s: Option<u64>| i128::from(s.unwrap_or(0));
        let place = Place::of(comps);
        if let Some(top) = place.dir {
            self.charge(&QuotaTarget::Dir(top), size(after) - size(before))?;
        }
        match place.repo {
            Some((repo, RepoItem::Upload)) => {
                self.charge(&QuotaTarget::Repo(repo), size(after) - size(before))?;
            }
            Some((repo, RepoItem::Link(d))) if before.is_some() != after.is_some() => {
                let b = i128::from(self.blob_bytes(&d)?);
                let delta = if after.is_some() { b } else { -b };
                self.charge(&QuotaTarget::Repo(repo), delta)?;
            }
            _ => {}
        }
        if let Some(d) = place.blob {
            if self.has_quotas(Some(KIND_REPO))? {
                // Every counted link naming this blob counts its size.
                for (t, _) in self.quota_records(Some(KIND_REPO))? {
                    let QuotaTarget::Repo(repo) = &t else {
                        continue;
                    };
                    for link in [
                        layout::layer_link(repo, &d),
                        layout::revision_link(repo, &d),
                    ] {
                        if self.file_exists(&link)? {
                            self.charge(&t, size(after) - size(before))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether moving something from `from` to `to` (path components)
    /// can change any usage: not when both lie in the same top-level
    /// directory, outside the registry, or when no limit is set.
    pub(crate) fn quota_move_matters(
        &mut self,
        from: &[&str],
        to: &[&str],
    ) -> Result<bool, FsError> {
        if !self.has_quotas(None)? {
            return Ok(false);
        }
        // `/docker` itself moving takes the whole registry along.
        let registry = |p: &[&str]| p.first() == Some(&"docker");
        let dirs_differ = from.first() != to.first() || from.len() < 2 || to.len() < 2;
        let dirs_matter = dirs_differ && self.has_quotas(Some(KIND_DIR))?;
        let repos_matter = (registry(from) || registry(to)) && self.has_quotas(Some(KIND_REPO))?;
        Ok(dirs_matter || repos_matter)
    }

    /// After a directory moved (`from` to `to`, path components): the
    /// usage of each target the move can touch is counted again (its
    /// top-level directories' and, if the registry is involved, every
    /// repository with a limit): O(the files of those targets), only for
    /// moves that [`Fs::quota_move_matters`]. A count that rose past its
    /// limit refuses the move.
    pub(crate) fn quota_recount_after_move(
        &mut self,
        from: &[&str],
        to: &[&str],
    ) -> Result<(), FsError> {
        let mut targets = Vec::new();
        // The moved directory's files count toward the first component
        // of its path, even when it is itself the top-level directory.
        for p in [from, to] {
            if let Some(top) = p.first() {
                targets.push(QuotaTarget::Dir(String::from(*top)));
            }
        }
        if [from, to].iter().any(|p| p.first() == Some(&"docker")) {
            for (t, _) in self.quota_records(Some(KIND_REPO))? {
                targets.push(t);
            }
        }
        targets.dedup();
        for t in targets {
            let Some(u) = self.quota_get(&t)? else {
                continue;
            };
            let used = self.quota_recount(&t)?;
            if used > u.used && used > u.limit {
                return Err(FsError::QuotaExceeded {
                    target: t.clone(),
                    would: used,
                    limit: u.limit,
                });
            }
            self.quota_put(&t, Usage { used, ..u })?;
        }
        Ok(())
    }

    /// Visits every file below directory `ino` with its path and size.
    fn walk_files(
        &mut self,
        ino: u64,
        base: Vec<Vec<u8>>,
        visit: &mut VisitFile<'_, Self>,
    ) -> Result<(), FsError> {
        let mut stack = vec![(ino, base)];
        let mut budget = self.state.live.entries.saturating_add(1);
        while let Some((dir, comps)) = stack.pop() {
            let mut after: Option<String> = None;
            loop {
                let root = self.state.live;
                let page = self.list_ino(&root, dir, after.as_deref(), 64)?;
                let Some(last) = page.last() else { break };
                after = Some(last.name.clone());
                for e in page {
                    budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                        what: "directory cycle",
                        ino: e.ino,
                    })?;
                    let mut path = comps.clone();
                    path.push(e.name.into_bytes());
                    match e.kind {
                        Kind::Dir => stack.push((e.ino, path)),
                        Kind::File => {
                            let size = self.get_inode(e.ino)?.size;
                            visit(self, &path, size)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts `target`'s usage from the tree (what the stored usage must
    /// equal): O(the files of that directory or repository).
    pub fn quota_recount(&mut self, target: &QuotaTarget) -> Result<u64, FsError> {
        let (dir, base) = match target {
            QuotaTarget::Dir(top) => (String::from("/") + top, vec![top.as_bytes().to_vec()]),
            QuotaTarget::Repo(r) => {
                let d = layout::repo_dir(r);
                let base = d
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .map(|c| c.as_bytes().to_vec())
                    .collect();
                (d, base)
            }
        };
        let ino = match self.stat(&dir) {
            Ok(m) if m.kind == Kind::Dir => m.ino,
            Ok(_) => return Ok(0),
            Err(e) if crate::registry::is_not_found(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut total = 0u64;
        let target = target.clone();
        self.walk_files(ino, base, &mut |fs, comps, size| {
            let place = Place::of(comps);
            let share = match (&target, place) {
                (QuotaTarget::Dir(_), _) => size,
                (
                    QuotaTarget::Repo(r),
                    Place {
                        repo: Some((pr, item)),
                        ..
                    },
                ) if &pr == r => match item {
                    RepoItem::Upload => size,
                    RepoItem::Link(d) => fs.blob_bytes(&d)?,
                },
                _ => 0,
            };
            total = total.saturating_add(share);
            Ok(())
        })?;
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

    fn comps(p: &str) -> Vec<Vec<u8>> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(|c| c.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn paths_are_placed_by_the_registry_layout() {
        let d = Digest::parse(&alloc::format!("sha256:{HEX}")).unwrap();
        let repo = RepoName::parse("library/alpine").unwrap();
        let p = Place::of(&comps(&layout::layer_link(&repo, &d)));
        assert_eq!(p.dir.as_deref(), Some("docker"));
        assert_eq!(p.repo, Some((repo.clone(), RepoItem::Link(d.clone()))));
        let p = Place::of(&comps(&layout::revision_link(&repo, &d)));
        assert_eq!(p.repo, Some((repo.clone(), RepoItem::Link(d.clone()))));
        let p = Place::of(&comps(&layout::upload_data(Some(&repo), "00ff")));
        assert_eq!(p.repo, Some((repo.clone(), RepoItem::Upload)));
        let p = Place::of(&comps(&layout::blob_data(&d)));
        assert_eq!((p.blob, p.repo), (Some(d.clone()), None));
        // Tags, startedat and global uploads count toward no repository.
        let tag = crate::names::Tag::parse("v1").unwrap();
        assert_eq!(
            Place::of(&comps(&layout::tag_current_link(&repo, &tag))).repo,
            None
        );
        assert_eq!(
            Place::of(&comps(&layout::upload_startedat(Some(&repo), "1"))).repo,
            None
        );
        assert_eq!(
            Place::of(&comps(&layout::upload_data(None, "1"))).repo,
            None
        );
        assert_eq!(Place::of(&comps("/top")).dir, None);
        assert_eq!(Place::of(&comps("/top/f")).dir.as_deref(), Some("top"));
    }
}
