//! Registry garbage collection: what no manifest references any more (the
//! reference registry's `garbage-collect --delete-untagged`), on top of the
//! chunk GC ([`crate::gc`]), with a dry run.
//!
//! # What is kept
//! 1. Every manifest a tag names, and (with `delete_untagged` off) every
//!    manifest of the repository.
//! 2. Every manifest one kept manifest names (an index's children), and
//!    every manifest whose `subject` is a kept manifest (its referrers),
//!    to a fixed point.
//! 3. Every blob a kept manifest names (config, layers), and the kept
//!    manifests' own blobs.
//! 4. Anything touched within the grace period: a manifest whose revision
//!    link, or a blob whose data or any repository link to it, was written
//!    less than `grace_secs` ago. This is what makes GC safe while pushes
//!    run: a client uploads layers (and an index's children, by digest)
//!    before the manifest that names them, so for a while they are
//!    referenced by nothing. The reference registry has no such rule and
//!    deletes them (distribution #3045).
//!
//! Everything else is removed: an untagged manifest's revision link, an
//! unreferenced blob's data and every repository's link to it. The chunks
//! they held are then reclaimed by the chunk GC. Upload sessions whose data
//! was last written more than `upload_max_idle_secs` ago are removed too.
//!
//! Each removal is its own transaction, so a crash in the middle leaves a
//! state that a later GC finishes; nothing referenced is ever removed.
//! A manifest that does not parse keeps everything it might name: its
//! blobs are not marked, but it is kept itself (only an untagged one is
//! deleted), and an error in the report names it.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::Transactional;
use serde::Deserialize;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::gc::GcReport;
use crate::layout;
use crate::names::{Algorithm, Digest, RepoName, Tag};
use crate::registry::{Registry, RegistryError, MANIFEST_MAX};

/// What a registry GC does.
#[derive(Clone, Debug)]
pub struct RegistryGcOptions {
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
    /// Also remove manifests that no tag (and no kept manifest) names.
    pub delete_untagged: bool,
    /// The current time, in the unit of the filesystem's mtimes.
    pub now: u64,
    /// Objects written less than this long ago are kept (see the module).
    pub grace_secs: u64,
    /// Upload sessions idle longer than this are removed.
    pub upload_max_idle_secs: u64,
}

/// Upload sessions idle for a day are abandoned.
pub const DEFAULT_UPLOAD_MAX_IDLE_SECS: u64 = 86_400;

/// What a registry GC removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default)]
pub struct RegistryGcReport {
    pub dry_run: bool,
    pub repositories: u64,
    pub manifests_kept: u64,
    pub manifests_removed: u64,
    pub blobs_kept: u64,
    pub blobs_removed: u64,
    /// Bytes of the removed blobs (logical; the chunk GC's figures say
    /// what space came back, after dedup).
    pub blob_bytes_removed: u64,
    /// Unreferenced objects kept because they are younger than the grace.
    pub kept_in_grace: u64,
    pub uploads_removed: u64,
    /// One line per removal, then problems (manifests that do not parse).
    pub lines: Vec<String>,
    /// The chunk GC that followed (not in a dry run).
    pub chunks: Option<GcReport>,
}

/// Lines kept in the report; the counts cover the rest.
const MAX_LINES: usize = 200;

impl RegistryGcReport {
    fn line(&mut self, s: String) {
        if self.lines.len() < MAX_LINES {
            self.lines.push(s);
        }
    }
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

/// The references a manifest or index holds (unknown fields ignored).
#[derive(Deserialize)]
struct ManifestRefs {
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    subject: Option<Descriptor>,
}

struct Refs {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

fn parse_refs(bytes: &[u8]) -> Option<Refs> {
    let m: ManifestRefs = serde_json::from_slice(bytes).ok()?;
    let digest = |d: &Descriptor| Digest::parse(&d.digest).ok();
    Some(Refs {
        blobs: m
            .config
            .iter()
            .chain(m.layers.iter())
            .filter_map(digest)
            .collect(),
        children: m.manifests.iter().filter_map(digest).collect(),
        subject: m.subject.as_ref().and_then(digest),
    })
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Runs a registry GC (see the module documentation), then, unless a
    /// dry run, the chunk GC.
    pub fn registry_gc(
        &mut self,
        o: &RegistryGcOptions,
    ) -> Result<RegistryGcReport, RegistryError> {
        let mut report = RegistryGcReport {
            dry_run: o.dry_run,
            ..RegistryGcReport::default()
        };
        let recent = |mtime: u64| o.now.saturating_sub(mtime) < o.grace_secs;
        let mut marked: BTreeSet<Digest> = BTreeSet::new();
        // Newest write of each blob's links, over every repository.
        let mut link_mtime: BTreeMap<Digest, u64> = BTreeMap::new();
        let mut linked_in: BTreeMap<Digest, Vec<RepoName>> = BTreeMap::new();
        let repos = self.repository_dirs()?;
        for name in &repos {
            let Ok(repo) = RepoName::parse(name) else {
                continue;
            };
            report.repositories += 1;
            for (d, mtime) in self.links_under(&layout::layers_dir(&repo))? {
                let m = link_mtime.entry(d.clone()).or_insert(0);
                *m = (*m).max(mtime);
                linked_in.entry(d).or_default().push(repo.clone());
            }
            self.mark_repository(&repo, o, &recent, &mut marked, &mut report)?;
            self.reap_uploads(Some(&repo), o, &mut report)?;
        }
        self.reap_uploads(None, o, &mut report)?;
        for d in self.list_blobs()? {
            if marked.contains(&d) {
                report.blobs_kept += 1;
                continue;
            }
            let data_mtime = self.fs().stat(&layout::blob_data(&d))?.mtime;
            let newest = data_mtime.max(link_mtime.get(&d).copied().unwrap_or(0));
            if recent(newest) {
                report.kept_in_grace += 1;
                report.blobs_kept += 1;
                continue;
            }
            let size = self.blob_size(&d)?.unwrap_or(0);
            report.blobs_removed += 1;
            report.blob_bytes_removed += size;
            report.line(alloc::format!("blob {d} ({size} bytes)"));
            if !o.dry_run {
                for repo in linked_in.get(&d).map(Vec::as_slice).unwrap_or(&[]) {
                    self.unlink_blob(repo, &d)?;
                }
                self.delete_blob(&d)?;
            }
        }
        if !o.dry_run {
            report.chunks = Some(self.fs().gc(false)?);
        }
        Ok(report)
    }

    /// Marks what `repo` keeps; removes its untagged manifests.
    fn mark_repository(
        &mut self,
        repo: &RepoName,
        o: &RegistryGcOptions,
        recent: &dyn Fn(u64) -> bool,
        marked: &mut BTreeSet<Digest>,
        report: &mut RegistryGcReport,
    ) -> Result<(), RegistryError> {
        let revisions: BTreeMap<Digest, u64> = self
            .links_under(&alloc::format!("{}/revisions", layout::manifests_dir(repo)))?
            .into_iter()
            .collect();
        let mut kept: BTreeSet<Digest> = BTreeSet::new();
        for t in self.list_tags(repo)? {
            let Ok(tag) = Tag::parse(&t) else { continue };
            if let Some(d) = self.read_link_at(&layout::tag_current_link(repo, &tag))? {
                kept.insert(d);
            }
        }
        for (d, mtime) in &revisions {
            if !o.delete_untagged || recent(*mtime) {
                kept.insert(d.clone());
            }
        }
        // Parse every revision once: references, children, subject.
        let mut refs: BTreeMap<Digest, Option<Refs>> = BTreeMap::new();
        for d in revisions.keys() {
            let parsed = match self.read_blob(d, MANIFEST_MAX)? {
                Some(bytes) => parse_refs(&bytes),
                None => None,
            };
            if parsed.is_none() {
                report.line(alloc::format!(
                    "problem: manifest {d} of {repo} is missing or does not parse; kept"
                ));
                kept.insert(d.clone());
            }
            refs.insert(d.clone(), parsed);
        }
        // Children and referrers of kept manifests, to a fixed point.
        loop {
            let mut grew = false;
            for (d, r) in &refs {
                let Some(r) = r else { continue };
                if kept.contains(d) {
                    for c in &r.children {
                        grew |= revisions.contains_key(c) && kept.insert(c.clone());
                    }
                } else if r.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                    grew |= kept.insert(d.clone());
                }
            }
            if !grew {
                break;
            }
        }
        for (d, r) in &refs {
            if kept.contains(d) {
                report.manifests_kept += 1;
                marked.insert(d.clone());
                if let Some(r) = r {
                    marked.extend(r.blobs.iter().cloned());
                    marked.extend(r.children.iter().cloned());
                }
                continue;
            }
            report.manifests_removed += 1;
            report.line(alloc::format!("manifest {repo}@{d} (untagged)"));
            if !o.dry_run {
                self.delete_manifest(repo, &crate::registry::Reference::Digest(d.clone()))?;
            }
        }
        Ok(())
    }

    /// Removes `repo`'s (or the global) upload sessions idle too long.
    fn reap_uploads(
        &mut self,
        repo: Option<&RepoName>,
        o: &RegistryGcOptions,
        report: &mut RegistryGcReport,
    ) -> Result<(), RegistryError> {
        for id in self.list_uploads(repo)? {
            let mtime = match self.fs().stat(&layout::upload_data(repo, &id)) {
                Ok(m) => m.mtime,
                // A session directory without data (a crash between its two
                // files): as old as its directory.
                Err(FsError::NotFound { .. }) => {
                    self.fs().stat(&layout::upload_dir(repo, &id))?.mtime
                }
                Err(e) => return Err(e.into()),
            };
            if o.now.saturating_sub(mtime) <= o.upload_max_idle_secs {
                continue;
            }
            report.uploads_removed += 1;
            let name = repo.map(|r| r.to_string()).unwrap_or_default();
            report.line(alloc::format!("upload {id} of {name} (idle)"));
            if !o.dry_run {
                self.remove_upload(repo, &id)?;
            }
        }
        Ok(())
    }

    /// `(digest, link mtime)` for every `<alg>/<hex>/link` under `dir`.
    fn links_under(&mut self, dir: &str) -> Result<Vec<(Digest, u64)>, RegistryError> {
        let mut out = Vec::new();
        for alg in self.child_names(dir)? {
            let Some(algorithm) = Algorithm::from_name(&alg) else {
                continue;
            };
            for hex in self.child_names(&alloc::format!("{dir}/{alg}"))? {
                let Ok(d) = Digest::from_hex(algorithm, &hex) else {
                    continue;
                };
                match self.fs().stat(&alloc::format!("{dir}/{alg}/{hex}/link")) {
                    Ok(m) => out.push((d, m.mtime)),
                    Err(FsError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(out)
    }
}
