//! Repository links (`_layers/.../link`) and manifests: the revisions
//! link, tags' current and index links, resolved, read and deleted in one
//! transaction each.

use super::*;

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    // ---- repository links ----

    pub(super) fn write_link(&mut self, path: &str, d: &Digest) -> Result<(), FsError> {
        self.fs.write_file(path, &link::encode(d))?;
        Ok(())
    }

    /// Reads a link; `None` if absent. `expect`: the digest its path names.
    pub(super) fn read_link(
        &mut self,
        path: &str,
        expect: Option<&Digest>,
    ) -> Result<Option<Digest>, RegistryError> {
        let bytes = match self.fs.read_file(path, link::MAX_LINK_LEN as u64) {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(FsError::FileTooLarge { size, max, .. }) => {
                return Err(RegistryError::BadLink {
                    path: path.to_string(),
                    problem: LinkError::TooLong {
                        len: usize::try_from(size).unwrap_or(usize::MAX),
                        max: usize::try_from(max).unwrap_or(usize::MAX),
                    },
                })
            }
            Err(e) => return Err(e.into()),
        };
        let decoded = match expect {
            Some(d) => link::decode_expecting(&bytes, d),
            None => link::decode(&bytes),
        };
        decoded.map(Some).map_err(|problem| RegistryError::BadLink {
            path: path.to_string(),
            problem,
        })
    }

    /// Links blob `d` into `repo` (`_layers/<alg>/<hex>/link`).
    pub fn link_blob(&mut self, repo: &RepoName, d: &Digest) -> Result<(), RegistryError> {
        if let Some(size) = self.blob_size(d)? {
            let link = layout::layer_link(repo, d);
            self.check_store(Some(repo), d, size, Some(&link))?;
        }
        self.write_link(&layout::layer_link(repo, d), d)?;
        self.gc_touch(d);
        Ok(())
    }

    /// Unlinks blob `d` from `repo`; `false` if it was not linked.
    pub fn unlink_blob(&mut self, repo: &RepoName, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self.fs.remove_all(&layout::layer_link_dir(repo, d))?)
    }

    /// Whether `repo` links blob `d` (blob access is scoped per repository).
    pub fn is_linked(&mut self, repo: &RepoName, d: &Digest) -> Result<bool, RegistryError> {
        Ok(self
            .read_link(&layout::layer_link(repo, d), Some(d))?
            .is_some())
    }

    // ---- manifests ----

    /// Stores a manifest under `reference`: the blob, the revisions link
    /// and, for a tag, the tag's current and index links. One transaction.
    pub fn put_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
        content: &[u8],
        d: &Digest,
    ) -> Result<(), RegistryError> {
        if content.len() as u64 > MANIFEST_MAX {
            return Err(RegistryError::ManifestTooLarge {
                len: content.len() as u64,
                max: MANIFEST_MAX,
            });
        }
        let got = Hasher::digest_of(d.algorithm(), content);
        if &got != d {
            return Err(RegistryError::Mismatch(DigestMismatch {
                expected: d.clone(),
                got,
            }));
        }
        if let Reference::Digest(r) = reference {
            if r != d {
                return Err(RegistryError::Mismatch(DigestMismatch {
                    expected: r.clone(),
                    got: d.clone(),
                }));
            }
        }
        let revision = layout::revision_link(repo, d);
        self.check_store(Some(repo), d, content.len() as u64, Some(&revision))?;
        let fs = &mut self.fs;
        fs.atomically(|fs| {
            let blob = layout::blob_data(d);
            if !fs.exists(&blob)? {
                fs.write_file(&blob, content)?;
            }
            fs.write_file(&layout::revision_link(repo, d), &link::encode(d))?;
            if let Reference::Tag(tag) = reference {
                fs.write_file(&layout::tag_current_link(repo, tag), &link::encode(d))?;
                fs.write_file(&layout::tag_index_link(repo, tag, d), &link::encode(d))?;
            }
            Ok(())
        })?;
        if self.gc_touched.is_some() {
            // A registry GC is stepping: what this manifest names is kept.
            self.gc_touch(d);
            for r in crate::registry_gc::referenced(content) {
                self.gc_touch(&r);
            }
        }
        Ok(())
    }

    /// The digest `reference` names in `repo`, if the manifest is there
    /// (a revisions link is required, as in the reference).
    pub fn resolve(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<Digest>, RegistryError> {
        let d = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.read_link(&layout::tag_current_link(repo, t), None)? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        if self
            .read_link(&layout::revision_link(repo, &d), Some(&d))?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(d))
    }

    /// The manifest bytes and digest for `reference`, verified.
    pub fn get_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, Digest)>, RegistryError> {
        let Some(d) = self.resolve(repo, reference)? else {
            return Ok(None);
        };
        match self.read_blob(&d, MANIFEST_MAX)? {
            Some(bytes) => Ok(Some((bytes, d))),
            None => Ok(None),
        }
    }

    /// By digest: removes the revisions link and every tag whose current
    /// link names it (as the reference does). By tag: removes the tag only.
    /// `false` if there was nothing to delete. One transaction.
    pub fn delete_manifest(
        &mut self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        match reference {
            Reference::Tag(t) => Ok(self.fs.remove_all(&layout::tag_dir(repo, t))?),
            Reference::Digest(d) => {
                let tags = self.list_tags(repo)?;
                let mut doomed = Vec::new();
                for t in tags {
                    let Ok(tag) = Tag::parse(&t) else { continue };
                    if self
                        .read_link(&layout::tag_current_link(repo, &tag), None)?
                        .as_ref()
                        == Some(d)
                    {
                        doomed.push(tag);
                    }
                }
                let found = self.fs.atomically(|fs| {
                    let mut found = fs.remove_all(&layout::revision_link_dir(repo, d))?;
                    for tag in &doomed {
                        found |= fs.remove_all(&layout::tag_dir(repo, tag))?;
                    }
                    Ok(found)
                })?;
                Ok(found)
            }
        }
    }
}
