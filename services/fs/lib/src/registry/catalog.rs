//! Names under `repositories/`: tags, the catalog of repositories, the
//! directories GC visits, and link files read by path.

use super::*;

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Names of `path`'s children, all pages.
    pub(super) fn list_names(&mut self, path: &str) -> Result<Vec<String>, RegistryError> {
        let mut out: Vec<String> = Vec::new();
        loop {
            let page = match self.fs.list(path, out.last().map(String::as_str), 256) {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(out),
                Err(e) => return Err(e.into()),
            };
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page.into_iter().map(|e| e.name));
        }
    }

    /// Tags of `repo`, sorted.
    pub fn list_tags(&mut self, repo: &RepoName) -> Result<Vec<String>, RegistryError> {
        self.list_names(&layout::tags_dir(repo))
    }

    /// Every repository: each directory under `repositories/` that has a
    /// `_layers` child (the reference's catalog rule), nested names included.
    pub fn list_repositories(&mut self) -> Result<Vec<String>, RegistryError> {
        self.repositories_with(&["_layers"])
    }

    /// Every directory under `repositories/` with any of the registry's own
    /// children (`_layers`, `_manifests`, `_uploads`): what GC visits.
    pub(crate) fn repository_dirs(&mut self) -> Result<Vec<String>, RegistryError> {
        self.repositories_with(&["_layers", "_manifests", "_uploads"])
    }

    pub(super) fn repositories_with(
        &mut self,
        markers: &[&str],
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut stack: Vec<String> = vec![String::new()];
        while let Some(name) = stack.pop() {
            let dir = if name.is_empty() {
                String::from(layout::REPOSITORIES)
            } else {
                alloc::format!("{}/{name}", layout::REPOSITORIES)
            };
            let children = self.list_names(&dir)?;
            let mut subdirs = Vec::new();
            let mut is_repo = false;
            for c in children {
                if markers.contains(&c.as_str()) {
                    is_repo = true;
                } else if !c.starts_with('_') {
                    subdirs.push(if name.is_empty() {
                        c
                    } else {
                        alloc::format!("{name}/{c}")
                    });
                }
            }
            if is_repo {
                out.push(name.clone());
            }
            stack.extend(subdirs.into_iter().rev());
        }
        out.sort();
        Ok(out)
    }

    /// Names of `path`'s children (none if it does not exist).
    pub(crate) fn child_names(&mut self, path: &str) -> Result<Vec<String>, RegistryError> {
        self.list_names(path)
    }

    /// The digest a link file names; `None` if absent.
    pub(crate) fn read_link_at(&mut self, path: &str) -> Result<Option<Digest>, RegistryError> {
        self.read_link(path, None)
    }
}
