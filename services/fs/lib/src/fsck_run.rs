//! fsck in bounded steps: the checks of [`Fs::fsck`] (module `fsck`) as a
//! resumable run, so that a service can answer other clients' requests,
//! writes included, between two steps of a long check.
//!
//! A step does at most `budget` units of work: `SHAPE_NODES` nodes of a
//! tree's shape check (`cowbtree::TreeCheck`; the snapshot table's
//! records decoded as its shape check reaches them), the next snapshot
//! read from the table (one record), one page of the content
//! store's check (the content store's `check_pages`: a bounded number of
//! index nodes), one page of directory entries (`PAGE` entries, each
//! file's extent map included), `COUNT_PAGE` records counted, or
//! `VERIFY_PIECE` bytes of a blob hashed. The run's memory is bounded by
//! one page of pending blob checks and the directory stack (plus the set
//! of directories seen, for the cycle check, as the one-call fsck always
//! had); it holds two roots (the table's and the live tree's) and the
//! tree being checked, not a list of snapshots.
//!
//! # Invariants: why changes between steps give no false errors
//! - A pinned run ([`Fs::fsck_start`] with `pin`) checks a fixed view: in
//!   its own transaction it takes a copy-on-write snapshot of the live tree
//!   (`cowbtree::snapshot`, as `snapshot_create` does) and of the
//!   snapshot table ([`crate::pins`]), and reads `logical_bytes`. Nodes
//!   those roots reach, and the trees of the snapshots the pinned table
//!   names, are never written again (cowbtree's generation rule).
//! - While the run is pinned its two roots are in `Fs::pinned`, and GC
//!   marks and reaches from them (the pinned table's snapshots included,
//!   a page of records at a time): the pinned trees' nodes stay allocated
//!   and every chunk they name stays in the content store, like a
//!   snapshot's, whatever is written, deleted, restored or collected
//!   between steps. So a step never reads a reused block and never misses
//!   a chunk a pinned file names.
//! - [`Fs::fsck_finish`] or [`Fs::fsck_abandon`] unpins; the copied root's
//!   own nodes then go at the next GC.
//!
//! - The content store is not pinned: each page of its check reads the
//!   store as it is at that step (nothing changes during a step), so a
//!   page reports no false problem, and the pages' key ranges cover the
//!   index without gap. The whole-store comparisons (counters, pair
//!   count, overlaps across pages) are made at the end only if no
//!   transaction committed since the first page (the root block's
//!   `sequence` is unchanged); otherwise the report carries a note saying
//!   they were not made.
//!
//! An unpinned run (the one-call `fsck`) must not be interleaved with
//! changes.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::{TreeCheck, TreeRoot};

use crate::chunks::Chunks;
use crate::digest::Verifier;
use crate::error::FsError;
use crate::fs::Fs;
use crate::fsck::FsckReport;
use crate::names::Digest;
use crate::pins::Pinned;
use crate::records::{self, Kind, ROOT_INO, STAGING_DIR};

mod registry_files;
mod table;

/// Directory entries listed per unit of work.
const PAGE: usize = 256;
/// Records counted per unit of work (the orphan check).
const COUNT_PAGE: usize = 4096;
/// Tree nodes a unit of the shape check reads.
pub const SHAPE_NODES: usize = 64;
/// Blob bytes hashed per unit of work.
const VERIFY_PIECE: usize = 256 * 1024;

/// Label of the live tree in problems.
const LIVE: &str = "live tree";

/// A run over the content store `C` of a filesystem over `T`.
pub type FsckRunOf<T, C> = FsckRun<<C as Chunks<T>>::Check>;

/// A resumable fsck (see the module comment). Drive it with
/// [`Fs::fsck_step`] until that returns `true`, then [`Fs::fsck_finish`].
pub struct FsckRun<K> {
    /// Its key in `Fs::pinned` (0: not pinned).
    pin: u64,
    verify_data: bool,
    /// The snapshot table and the live tree checked (pinned, or current).
    table: TreeRoot,
    live: TreeRoot,
    /// The tree being checked: its label in problems, its root.
    current: (String, TreeRoot),
    /// `current` is the live tree: the last one.
    on_live: bool,
    /// The name of the last snapshot taken from `table`.
    snap_after: Option<Vec<u8>>,
    /// `logical_bytes` when the live tree was pinned.
    live_bytes: u64,
    phase: Phase,
    /// Blobs of the page just listed, checked before the next page.
    blobs: VecDeque<(String, u64, u64, Digest)>,
    verifying: Option<BlobCheck>,
    report: FsckReport,
    /// The content store's check in pages, while it runs.
    content: Option<K>,
    /// The root block's `sequence` at the content check's first page.
    sequence: u64,
}

/// A blob being hashed, a piece per unit.
struct BlobCheck {
    path: String,
    ino: u64,
    size: u64,
    pos: u64,
    verifier: Verifier,
}

/// What one tree's walk has reached so far.
#[derive(Clone, Copy)]
struct Reached {
    inodes: u64,
    extents: u64,
    bytes: u64,
}

enum Phase {
    /// The snapshot table's check, `SHAPE_NODES` nodes a unit; then the
    /// content store's check starts.
    Table(Option<TreeCheck>),
    /// Takes the next snapshot from the table (the live tree after the
    /// last), or ends the run after the live tree.
    NextTree,
    /// The content store's check, a page per unit.
    Content,
    /// The shape check of the current tree (started on its first unit).
    Shape(Option<TreeCheck>),
    /// Directories to list: (ino, path, listed after this name).
    Dirs {
        stack: Vec<(u64, String, Option<String>)>,
        seen: BTreeSet<u64>,
        reached: Reached,
    },
    Staging {
        after: Option<String>,
        reached: Reached,
    },
    /// Counting the tree's records of `tag` (inodes, then extents).
    Count {
        tag: u8,
        after: Option<Vec<u8>>,
        counted: u64,
        inodes: u64,
        reached: Reached,
    },
    Done,
}

impl<K> FsckRun<K> {
    /// The report so far (complete once the run is done).
    pub fn report(&self) -> &FsckReport {
        &self.report
    }
    /// The part of the check the next unit works on: `table`, `content`,
    /// `next`, `shape`, `dirs`, `staging`, `count`, `done` (pending blob
    /// pieces come first: `verify`).
    pub fn phase(&self) -> &'static str {
        if self.verifying.is_some() || !self.blobs.is_empty() {
            return "verify";
        }
        match self.phase {
            Phase::Table(_) => "table",
            Phase::NextTree => "next",
            Phase::Content => "content",
            Phase::Shape(_) => "shape",
            Phase::Dirs { .. } => "dirs",
            Phase::Staging { .. } => "staging",
            Phase::Count { .. } => "count",
            Phase::Done => "done",
        }
    }
    fn label(&self) -> String {
        self.current.0.clone()
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Starts a run. With `pin`, its view is pinned in one transaction
    /// (see the module comment) so other operations may run between its
    /// steps; without, nothing may change until it is done.
    pub fn fsck_start(
        &mut self,
        verify_data: bool,
        pin: bool,
    ) -> Result<FsckRun<C::Check>, FsError> {
        let (table, live, live_bytes, key) = if pin {
            let key = self.next_pin;
            self.next_pin += 1;
            let (table, live, bytes) = self.atomically(|fs| {
                let table = cowbtree::snapshot(&mut fs.state.snaps)?;
                let live = cowbtree::snapshot(&mut fs.state.live)?;
                Ok((table, live, fs.state.meta.logical_bytes))
            })?;
            self.pinned
                .push((key, vec![Pinned::Table(table), Pinned::Tree(live)]));
            (table, live, bytes, key)
        } else {
            (self.state.snaps, self.state.live, self.logical_bytes(), 0)
        };
        Ok(FsckRun {
            pin: key,
            verify_data,
            table,
            live,
            current: (String::from(LIVE), live),
            on_live: false,
            snap_after: None,
            live_bytes,
            phase: Phase::Table(None),
            blobs: VecDeque::new(),
            verifying: None,
            report: FsckReport::default(),
            content: None,
            sequence: 0,
        })
    }

    /// Whether `run` is pinned in this filesystem (a run started on an
    /// earlier mount is not, and must not be stepped here).
    pub fn fsck_is_pinned(&self, run: &FsckRun<C::Check>) -> bool {
        self.pinned.iter().any(|(k, _)| *k == run.pin)
    }

    /// Ends a run early (a client gone): unpins its trees.
    pub fn fsck_abandon(&mut self, run: FsckRun<C::Check>) {
        self.pinned.retain(|(k, _)| *k != run.pin);
    }

    /// The finished run's report; unpins its trees. The quota counters
    /// are checked here, against the live tree in this one step (a recount
    /// of the limited targets: it must see the counters and the files of
    /// one moment, which a pinned view of an older moment would not give).
    pub fn fsck_finish(&mut self, mut run: FsckRun<C::Check>) -> FsckReport {
        self.pinned.retain(|(k, _)| *k != run.pin);
        self.fsck_quotas(&mut run.report);
        run.report
    }

    /// Does up to `budget` units of work (at least one); `true` when the
    /// run is done. An error (the device's) ends the run: abandon it.
    pub fn fsck_step(
        &mut self,
        run: &mut FsckRun<C::Check>,
        budget: usize,
    ) -> Result<bool, FsError> {
        for _ in 0..budget.max(1) {
            if self.fsck_unit(run)? {
                return Ok(true);
            }
        }
        Ok(matches!(run.phase, Phase::Done))
    }

    /// One unit of work; `true` when the run is done.
    fn fsck_unit(&mut self, run: &mut FsckRun<C::Check>) -> Result<bool, FsError> {
        if run.verifying.is_some() || !run.blobs.is_empty() {
            self.verify_piece(run)?;
            return Ok(false);
        }
        let phase = core::mem::replace(&mut run.phase, Phase::Done);
        run.phase = match phase {
            Phase::Table(walk) => self.table_unit(run, walk)?,
            Phase::NextTree => self.next_tree_unit(run)?,
            Phase::Content => self.content_unit(run)?,
            Phase::Shape(walk) => self.shape_unit(run, walk)?,
            Phase::Dirs {
                stack,
                seen,
                reached,
            } => self.dirs_unit(run, stack, seen, reached)?,
            Phase::Staging { after, reached } => self.staging_unit(run, after, reached)?,
            Phase::Count {
                tag,
                after,
                counted,
                inodes,
                reached,
            } => self.count_unit(run, tag, after, counted, inodes, reached)?,
            Phase::Done => Phase::Done,
        };
        Ok(matches!(run.phase, Phase::Done) && run.blobs.is_empty() && run.verifying.is_none())
    }

    /// One page of the content store's check; at its end, the
    /// whole-store comparisons if nothing committed since its first page.
    fn content_unit(&mut self, run: &mut FsckRun<C::Check>) -> Result<Phase, FsError> {
        let Some(mut check) = run.content.take() else {
            return Ok(Phase::NextTree);
        };
        let (found, done) = self.state.content.check_page(&mut self.dev, &mut check)?;
        content_findings(run, found);
        if !done {
            run.content = Some(check);
            return Ok(Phase::Content);
        }
        let unchanged = self.state.meta.sequence == run.sequence;
        let (found, note) = self
            .state
            .content
            .check_end(&mut self.dev, check, unchanged)?;
        content_findings(run, found);
        if let Some(note) = note {
            run.report.notes.push(format!("content store: {note}"));
        }
        Ok(Phase::NextTree)
    }

    /// `SHAPE_NODES` nodes of the current tree's shape check; when it is
    /// done, its namespace next (or the next tree's shape when the shape
    /// is broken).
    fn shape_unit(
        &mut self,
        run: &mut FsckRun<C::Check>,
        walk: Option<TreeCheck>,
    ) -> Result<Phase, FsError> {
        let (label, root) = run.current.clone();
        let mut walk = walk.unwrap_or_else(|| {
            run.report.trees += 1;
            TreeCheck::new(&root)
        });
        if !walk.step(&mut self.dev, SHAPE_NODES) {
            return Ok(Phase::Shape(Some(walk)));
        }
        let check = walk.finish();
        for p in check.problems {
            run.report.problem(format!("{label}: {p}"));
        }
        if check.problem_count != 0 {
            return Ok(Phase::NextTree);
        }
        let reached = Reached {
            inodes: 1, // the root
            extents: 0,
            bytes: 0,
        };
        match self.get_inode_in(&root, ROOT_INO) {
            Ok(i) if i.kind == Kind::Dir => {}
            Ok(_) => run
                .report
                .problem(format!("{label}: root inode is not a directory")),
            Err(e) => {
                run.report.problem(format!("{label}: root inode: {e}"));
                return Ok(Phase::NextTree);
            }
        }
        Ok(Phase::Dirs {
            stack: vec![(ROOT_INO, String::new(), None)],
            seen: BTreeSet::new(),
            reached,
        })
    }

    /// One page of the directory on top of the stack.
    fn dirs_unit(
        &mut self,
        run: &mut FsckRun<C::Check>,
        mut stack: Vec<(u64, String, Option<String>)>,
        mut seen: BTreeSet<u64>,
        mut reached: Reached,
    ) -> Result<Phase, FsError> {
        let Some((dir, path, after)) = stack.pop() else {
            return Ok(Phase::Staging {
                after: None,
                reached,
            });
        };
        let (label, root) = (run.label(), run.current.1);
        if after.is_none() {
            if !seen.insert(dir) {
                run.report.problem(format!(
                    "{label}: directory {dir} is reached twice (a cycle)"
                ));
                return Ok(Phase::Dirs {
                    stack,
                    seen,
                    reached,
                });
            }
            run.report.dirs += 1;
        }
        let page = self.list_ino(&root, dir, after.as_deref(), PAGE)?;
        if let Some(last) = page.last() {
            stack.push((dir, path.clone(), Some(last.name.clone())));
        }
        for e in page {
            reached.inodes += 1;
            let inode = match self.get_inode_in(&root, e.ino) {
                Ok(i) => i,
                Err(err) => {
                    run.report
                        .problem(format!("{label}: entry {:?} in dir {dir}: {err}", e.name));
                    continue;
                }
            };
            if inode.kind != e.kind || inode.parent != dir || inode.name != e.name.as_bytes() {
                run.report.problem(format!(
                    "{label}: entry {:?} in dir {dir} names inode {} whose kind/parent/name are {:?}/{}/{:?}",
                    e.name,
                    e.ino,
                    inode.kind,
                    inode.parent,
                    String::from_utf8_lossy(&inode.name)
                ));
            }
            let child = format!("{path}/{}", e.name);
            match e.kind {
                Kind::Dir => stack.push((e.ino, child, None)),
                Kind::File => {
                    run.report.files += 1;
                    reached.bytes = reached.bytes.saturating_add(inode.size);
                    reached.extents +=
                        self.check_file(&label, &root, e.ino, inode.size, &mut run.report)?;
                    if run.on_live {
                        self.check_registry_file(run, &root, &child, e.ino, inode.size)?;
                    }
                }
            }
        }
        Ok(Phase::Dirs {
            stack,
            seen,
            reached,
        })
    }

    /// One page of the staging directory (puts in progress: reached, not
    /// counted in the tree's bytes).
    fn staging_unit(
        &mut self,
        run: &mut FsckRun<C::Check>,
        after: Option<String>,
        mut reached: Reached,
    ) -> Result<Phase, FsError> {
        let (label, root) = (run.label(), run.current.1);
        let page = self.list_ino(&root, STAGING_DIR, after.as_deref(), PAGE)?;
        let Some(last) = page.last().map(|e| e.name.clone()) else {
            return Ok(Phase::Count {
                tag: records::TAG_INODE,
                after: None,
                counted: 0,
                inodes: 0,
                reached,
            });
        };
        for e in page {
            reached.inodes += 1;
            match self.get_inode_in(&root, e.ino) {
                Ok(i)
                    if i.kind == Kind::File
                        && e.kind == Kind::File
                        && i.parent == STAGING_DIR
                        && i.name == e.name.as_bytes() =>
                {
                    reached.extents +=
                        self.check_file(&label, &root, e.ino, i.size, &mut run.report)?;
                }
                Ok(_) => run.report.problem(format!(
                    "{label}: staging entry {:?} names inode {} that is not its staging file",
                    e.name, e.ino
                )),
                Err(err) => run
                    .report
                    .problem(format!("{label}: staging entry {:?}: {err}", e.name)),
            }
        }
        Ok(Phase::Staging {
            after: Some(last),
            reached,
        })
    }

    /// Counts up to `COUNT_PAGE` records of `tag`; when both counts are
    /// done, compares them with what the walk reached (orphans).
    fn count_unit(
        &mut self,
        run: &mut FsckRun<C::Check>,
        tag: u8,
        after: Option<Vec<u8>>,
        mut counted: u64,
        inodes: u64,
        reached: Reached,
    ) -> Result<Phase, FsError> {
        let root = run.current.1;
        let lo = [tag];
        let hi = [tag + 1];
        let start = match &after {
            Some(k) => Bound::Excluded(&k[..]),
            None => Bound::Included(&lo[..]),
        };
        let mut last = None;
        {
            let mut c = cowbtree::range(&mut self.dev, &root, start, Bound::Excluded(&hi[..]))?;
            for _ in 0..COUNT_PAGE {
                let Some((k, _)) = c.next_entry()? else { break };
                counted += 1;
                last = Some(k);
            }
        }
        if last.is_some() {
            return Ok(Phase::Count {
                tag,
                after: last,
                counted,
                inodes,
                reached,
            });
        }
        if tag == records::TAG_INODE {
            return Ok(Phase::Count {
                tag: records::TAG_EXTENT,
                after: None,
                counted: 0,
                inodes: counted,
                reached,
            });
        }
        let (label, extents) = (run.label(), counted);
        if inodes != reached.inodes {
            run.report.problem(format!(
                "{label}: {inodes} inodes stored, {} reachable",
                reached.inodes
            ));
        }
        if extents != reached.extents {
            run.report.problem(format!(
                "{label}: {extents} extents stored, {} reachable",
                reached.extents
            ));
        }
        run.report.extents += extents;
        if run.on_live && reached.bytes != run.live_bytes {
            run.report.problem(format!(
                "live tree: files hold {} bytes, the root block says {}",
                reached.bytes, run.live_bytes
            ));
        }
        Ok(Phase::NextTree)
    }
}

/// The content store's problems into the report.
fn content_findings<K>(run: &mut FsckRun<K>, found: crate::chunks::Findings) {
    let unlisted = found.count.saturating_sub(found.texts.len() as u64);
    for t in found.texts {
        run.report.problem(format!("content store: {t}"));
    }
    // Counted, not listed (past the content store's own list).
    run.report.problem_count += unlisted;
}
