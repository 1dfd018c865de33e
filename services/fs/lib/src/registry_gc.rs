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
//!
//! # In bounded steps
//! [`Registry::registry_gc_start`] / `registry_gc_step` / `_finish` run
//! the same collection a repository (or a page of blobs) per unit, other
//! requests served between steps. Invariant: the sweep removes nothing a
//! manifest put or a repository link made since the run started names.
//! While a run is open the registry notes every such digest
//! (`Registry::gc_touched`: `put_manifest` notes the manifest and all it
//! names, every repository link notes its blob), and the sweep keeps
//! them, rechecking each candidate in the step that removes it. A
//! repository marked in an earlier step that gains a manifest later thus
//! loses nothing; the collection equals one run at its start, minus what
//! was touched since. One stepped run per registry at a time: starting
//! one ends the previous. The chunk GC at the end runs in its own bounded
//! units (a page of marks, a sweep or free transaction, the block reach:
//! `crate::gc_run`), one per registry unit, under its own pin; a chunk
//! GC another client starts meanwhile ends it (that one collects instead).
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
use crate::gc::{GcReport, GcSteps};
use crate::gc_run::{GcRun, GcRunOf};
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

/// Every digest a manifest's bytes name (blobs, children, subject);
/// nothing when they do not parse.
pub(crate) fn referenced(bytes: &[u8]) -> Vec<Digest> {
    match parse_refs(bytes) {
        Some(r) => r
            .blobs
            .into_iter()
            .chain(r.children)
            .chain(r.subject)
            .collect(),
        None => Vec::new(),
    }
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

/// Blobs looked at per unit of a stepped run's sweep.
const SWEEP_PAGE: usize = 64;

/// A registry GC in bounded steps (see "In bounded steps"), over the
/// content store's collection state `G` (`Chunks::Gc`).
pub struct RegistryGcRun<G> {
    /// Its id in `Registry::gc_touched` (0: a one-call run).
    id: u64,
    o: RegistryGcOptions,
    repos: Vec<String>,
    next_repo: usize,
    marked: BTreeSet<Digest>,
    /// Newest write of each blob's links, over every repository.
    link_mtime: BTreeMap<Digest, u64>,
    linked_in: BTreeMap<Digest, Vec<RepoName>>,
    /// The blobs to sweep, once the repositories are marked.
    blobs: Option<Vec<Digest>>,
    next_blob: usize,
    /// The chunk GC at the end, once started.
    chunks: Option<GcRun<G>>,
    report: RegistryGcReport,
}

impl<G> RegistryGcRun<G> {
    pub fn report(&self) -> &RegistryGcReport {
        &self.report
    }
}

impl<T: Transactional, C: Chunks<T>> Registry<T, C> {
    /// Runs a registry GC (see the module documentation), then, unless a
    /// dry run, the chunk GC; in one call (nothing else runs meanwhile).
    pub fn registry_gc(
        &mut self,
        o: &RegistryGcOptions,
    ) -> Result<RegistryGcReport, RegistryError> {
        let mut run = self.registry_gc_begin(o, false)?;
        loop {
            match self.registry_gc_step(&mut run, usize::MAX) {
                Ok(true) => return Ok(self.registry_gc_finish(run)),
                Ok(false) => {}
                Err(e) => {
                    self.registry_gc_finish(run);
                    return Err(e);
                }
            }
        }
    }

    /// Starts a stepped registry GC: other operations may run between its
    /// steps (ending any stepped run before it).
    pub fn registry_gc_start(
        &mut self,
        o: &RegistryGcOptions,
    ) -> Result<RegistryGcRun<C::Gc>, RegistryError> {
        self.registry_gc_begin(o, true)
    }

    /// Ends a stepped run (done or not).
    pub fn registry_gc_finish(&mut self, mut run: RegistryGcRun<C::Gc>) -> RegistryGcReport {
        if self.registry_gc_is_current(&run) {
            self.gc_touched = None;
        }
        // An unfinished chunk GC ends with it (its done steps stay done).
        if let Some(chunks) = run.chunks.take() {
            self.fs().gc_abandon(chunks);
        }
        run.report
    }

    /// Whether `run` is this registry's open stepped run (one started
    /// before a newer run, or on an earlier mount, is not: stepping it
    /// would sweep without the touched set).
    pub fn registry_gc_is_current<G>(&self, run: &RegistryGcRun<G>) -> bool {
        self.gc_touched
            .as_ref()
            .is_some_and(|(id, _)| *id == run.id)
    }

    fn registry_gc_begin(
        &mut self,
        o: &RegistryGcOptions,
        stepped: bool,
    ) -> Result<RegistryGcRun<C::Gc>, RegistryError> {
        let repos = self.repository_dirs()?;
        let id = if stepped {
            self.gc_runs += 1;
            self.gc_touched = Some((self.gc_runs, BTreeSet::new()));
            self.gc_runs
        } else {
            0
        };
        Ok(RegistryGcRun {
            id,
            o: o.clone(),
            repos,
            next_repo: 0,
            marked: BTreeSet::new(),
            link_mtime: BTreeMap::new(),
            linked_in: BTreeMap::new(),
            blobs: None,
            next_blob: 0,
            chunks: None,
            report: RegistryGcReport {
                dry_run: o.dry_run,
                ..RegistryGcReport::default()
            },
        })
    }

    /// Up to `budget` units (a repository, the global uploads, a page of
    /// `SWEEP_PAGE` blobs, the chunk GC); `true` when the run is done.
    pub fn registry_gc_step(
        &mut self,
        run: &mut RegistryGcRun<C::Gc>,
        budget: usize,
    ) -> Result<bool, RegistryError> {
        for _ in 0..budget.max(1) {
            if self.registry_gc_unit(run)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn registry_gc_unit(&mut self, run: &mut RegistryGcRun<C::Gc>) -> Result<bool, RegistryError> {
        let o = run.o.clone();
        let recent = |mtime: u64| o.now.saturating_sub(mtime) < o.grace_secs;
        if let Some(name) = run.repos.get(run.next_repo).cloned() {
            run.next_repo += 1;
            let Ok(repo) = RepoName::parse(&name) else {
                return Ok(false);
            };
            run.report.repositories += 1;
            for (d, mtime) in self.links_under(&layout::layers_dir(&repo))? {
                let m = run.link_mtime.entry(d.clone()).or_insert(0);
                *m = (*m).max(mtime);
                run.linked_in.entry(d).or_default().push(repo.clone());
            }
            self.mark_repository(&repo, &o, &recent, &mut run.marked, &mut run.report)?;
            self.reap_uploads(Some(&repo), &o, &mut run.report)?;
            return Ok(false);
        }
        let Some(blobs) = &run.blobs else {
            self.reap_uploads(None, &o, &mut run.report)?;
            run.blobs = Some(self.list_blobs()?);
            return Ok(false);
        };
        let page: Vec<Digest> = blobs
            .iter()
            .skip(run.next_blob)
            .take(SWEEP_PAGE)
            .cloned()
            .collect();
        if page.is_empty() {
            if o.dry_run || run.report.chunks.is_some() {
                return Ok(true);
            }
            return self.chunk_gc_unit(run);
        }
        run.next_blob += page.len();
        // A stepped run a newer one (or a new mount) replaced has lost its
        // touched set: it removes nothing more.
        let stale = run.id != 0 && !self.registry_gc_is_current(run);
        for d in page {
            let touched = self.gc_touched.as_ref().is_some_and(|t| t.1.contains(&d));
            if stale || run.marked.contains(&d) || touched {
                run.report.blobs_kept += 1;
                continue;
            }
            // Checked again now, in the step that removes it: gone
            // meanwhile (another client removed it) is nothing to do.
            let data_mtime = match self.fs().stat(&layout::blob_data(&d)) {
                Ok(m) => m.mtime,
                Err(FsError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let newest = data_mtime.max(run.link_mtime.get(&d).copied().unwrap_or(0));
            if recent(newest) {
                run.report.kept_in_grace += 1;
                run.report.blobs_kept += 1;
                continue;
            }
            let size = self.blob_size(&d)?.unwrap_or(0);
            run.report.blobs_removed += 1;
            run.report.blob_bytes_removed += size;
            run.report.line(alloc::format!("blob {d} ({size} bytes)"));
            if !o.dry_run {
                for repo in run.linked_in.get(&d).map(Vec::as_slice).unwrap_or(&[]) {
                    self.unlink_blob(repo, &d)?;
                }
                self.delete_blob(&d)?;
            }
        }
        Ok(false)
    }

    /// One unit of the chunk GC at the end (started by the first); `true`
    /// once it is done. A stepped run pins its view; a one-call run (id 0)
    /// has nothing between its units and does not.
    fn chunk_gc_unit(&mut self, run: &mut RegistryGcRun<C::Gc>) -> Result<bool, RegistryError> {
        let mut chunks: GcRunOf<T, C> = match run.chunks.take() {
            Some(c) => c,
            None => self.fs().gc_begin(false, run.id != 0, GcSteps::default())?,
        };
        match self.fs().gc_step(&mut chunks, 1) {
            Ok(true) => {
                run.report.chunks = Some(self.fs().gc_finish(chunks));
                Ok(true)
            }
            Ok(false) => {
                run.chunks = Some(chunks);
                Ok(false)
            }
            Err(e) => {
                self.fs().gc_abandon(chunks);
                Err(e.into())
            }
        }
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
