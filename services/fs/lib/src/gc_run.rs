//! Chunk and block GC in bounded steps: the collection of [`crate::gc`] as
//! a resumable run, so that a service answers other clients' requests,
//! writes included, between two steps of a long collection.
//!
//! [`Fs::gc_start`] / [`Fs::gc_step`] / [`Fs::gc_finish`]. A step does at
//! most `budget` units of work: a page of `MARK_PAGE` extent records
//! marked, a page of `TABLE_PAGE` snapshot records read (the next trees to
//! mark), one sweep transaction (`GcSteps::sweep` index entries), the
//! reach's pin, one reach unit (`GcSteps::reach` nodes read, see
//! [`crate::gc_reach`]), or one free transaction (`GcSteps::free`
//! extents). No unit walks a whole tree, index or snapshot table, and
//! nothing the run keeps grows with the number of snapshots. The one-call
//! [`Fs::gc_with`] is the same run without the pins, stepped to the end.
//!
//! # Invariants: why nothing reachable is ever freed
//! - The chunk marks see a fixed view. In one transaction `gc_start`
//!   begins the content store's new epoch (`begin_gc`) and takes
//!   copy-on-write snapshots of the live tree and of the snapshot table
//!   (`cowbtree::snapshot`, as `fsck_run` does; [`crate::pins`]); it
//!   copies the two roots each stepped fsck run pinned (its live tree and
//!   its table). Its own two roots stay in `Fs::pinned` until the sweep
//!   is over, so their nodes are never written again or freed (cowbtree's
//!   generation rule). The trees the pinned tables name are snapshots:
//!   never written, and freed by nobody but GC's reach, which comes after
//!   the marks (a snapshot deleted, or an fsck run ended, between two
//!   steps is still read safely). The marks walk each pinned table a
//!   page of `TABLE_PAGE` records at a time (at most a page of roots in
//!   memory) and mark every chunk the trees it names, and the live
//!   trees, name.
//! - A chunk put, or put again (a dedup hit), between two steps carries the
//!   new epoch and the sweep keeps it whatever the marks say
//!   (`content::gc`). A chunk whose last reference is deleted between two
//!   steps is still marked through the pinned view: it goes at the next GC.
//! - Marks are kept by a chunk's first block. No marked chunk is freed
//!   during the run (only a sweep frees chunks, and only one run sweeps),
//!   so no other chunk can take its first block meanwhile.
//! - One run at a time per filesystem: starting one (stepped, one-call, or
//!   the registry GC's) ends the one before, whose pins then go. A run
//!   that was ended does nothing more: `gc_step` answers done without
//!   touching anything, since its marks or its doomed blocks may be out of
//!   date ([`Fs::gc_is_current`] says which).
//! - The blocks. Once the sweep is done, one unit fixes the moment R: in
//!   one transaction it pins copy-on-write snapshots of the live tree, of
//!   the snapshot table and of the content index (`Chunks::pin_index`:
//!   the index root is the filesystem's state, sent with every content
//!   request, so the content service's writers copy the pinned nodes
//!   instead of rewriting them), and in the same request it copies the
//!   allocation bitmap: A = the blocks allocated at R. The reach units
//!   then walk only these pinned roots, the fsck runs' pins of R and the
//!   snapshots the pinned tables name, N nodes at a time, other requests
//!   between: the set P of blocks reachable at R (every root of R is one
//!   of those, and a pinned node is never written or freed, so pieces of
//!   the walk taken at different times read the same state). The doomed
//!   set is D = A \ P (data region only); later units free D, a
//!   transaction per `GcSteps::free` extents. Why that is safe whatever
//!   others do after R:
//!   1. A block allocated after R is not in A: never doomed (a chunk, a
//!      node or a copy made between the reach's units).
//!   2. A block reachable at R is reached through a pin: in P, not
//!      doomed (a file deleted, a snapshot removed, a chunk swept after
//!      R: it goes at the next GC).
//!   3. A block unreachable at R stays unreachable until this run frees
//!      it: every other free frees a block its caller reached from a
//!      current root (cowbtree frees only nodes of the path it rewrites
//!      that the tree alone owns, the content store only in a sweep,
//!      which is this run's and is over), and new references name only
//!      blocks just allocated or already reachable; so no block of D is
//!      freed and handed out again before this run frees it. (As before,
//!      this assumes nothing holds an allocated, unreachable block
//!      between requests.)
//!   4. The pinned nodes are themselves reachable at R (the pins are
//!      copies of R's roots): in P, never doomed; the copies that writes
//!      after R make of them leave them unreachable, and the next GC
//!      frees them (1 and 3 at its own R).
//! - The mark view's pin goes before R, so the nodes that writes left
//!   behind it, and the sweep's rewritten index nodes, are unreachable at
//!   R and reclaimed by this very run.
//!
//! A dry run pins too (transactions that change no data, as a stepped
//! fsck's), frees nothing, and reports as one-call; chunks written between
//! its steps may be counted as ones it would free.
//!
//! # Crash safety
//! Every sweep and free unit is a transaction that commits the root block
//! with it; the pins (the roots' copies) and the run's position are in
//! memory only, and the pins' transactions change only generations.
//! Cases:
//! 1. A crash during the marks or the sweep leaves the store as after the
//!    last committed step, pinning nothing: the live tree, the snapshot
//!    table and the index are written in place again once they own their
//!    nodes (after one copy of each shared path).
//! 2. A crash during the reach: nothing was freed by it; the nodes that
//!    writes copied away from the pins are allocated and unreachable
//!    (from the content index too: the content service keeps no root of
//!    its own, so none of its nodes stays pinned), and the next GC frees
//!    them.
//! 3. A crash during the frees: whatever was freed was in D, unreachable,
//!    so the trees, the index and the counters agree; running GC again
//!    finishes the job.
//!
//! # Memory
//! One bit per block of the store for the chunk marks (until the sweep
//! ends), then two for the reach (allocated at R, reached) until the frees
//! end, one page of extent records or of snapshot roots, and two roots
//! per pin (this run's and each fsck run's): none per snapshot.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use block::{Extent, Transactional};
use cowbtree::TreeRoot;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::gc::{GcReport, GcSteps};
use crate::gc_reach::{Doomed, Reach, ReachStep};
use crate::pins::{decode_record, Pinned, TABLE_PAGE};
use crate::records::Extent as FileExtent;

/// Extent records marked per unit of work.
const MARK_PAGE: usize = 256;

/// Pin keys of GC runs carry this bit (fsck runs' do not): starting a GC
/// run ends every other GC run by dropping its pin.
const GC_PIN: u64 = 1 << 63;

/// A resumable chunk and block GC (see the module comment), over the
/// content store's collection state `G` (`Chunks::Gc`). Drive it with
/// [`Fs::gc_step`] until that returns `true`, then [`Fs::gc_finish`].
pub struct GcRun<G> {
    /// Its key in `Fs::pinned` (with `GC_PIN`).
    pin: u64,
    /// Other requests may run between its steps: its views are pinned.
    pinned: bool,
    steps: GcSteps,
    /// Whose chunks are marked, as they were at the start: the snapshot
    /// table and the live tree, then fsck runs' pins (two roots each).
    roots: Vec<Pinned>,
    phase: Phase<G>,
    report: GcReport,
}

/// A run of a filesystem over `T` with content store `C`.
pub type GcRunOf<T, C> = GcRun<<C as Chunks<T>>::Gc>;

/// Where the chunk marks stand.
struct Marking<G> {
    gc: G,
    /// The next entry of `GcRun::roots` to take trees from.
    source: usize,
    /// In a table: the last snapshot name read (the next page's cursor).
    table_after: Option<Vec<u8>>,
    /// Trees to mark (at most a page of a table's), the first one being
    /// marked after extent key `after`.
    queue: VecDeque<TreeRoot>,
    after: Option<Vec<u8>>,
}

enum Phase<G> {
    Mark(Marking<G>),
    Sweep {
        gc: G,
    },
    /// The block reach: to pin (`None`), or in progress.
    Reach(Option<Reach>),
    /// Freeing the doomed blocks from block `next` on.
    Free {
        doomed: Doomed,
        next: u64,
    },
    Done,
}

/// What a run's next unit does (for tests and progress reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcStage {
    Mark,
    Sweep,
    /// Pins the reach's roots and copies the allocation bitmap.
    Pin,
    /// Walks the pinned roots, `GcSteps::reach` nodes per unit.
    Reach,
    Free,
    Done,
}

impl<G> GcRun<G> {
    /// The report so far (complete once the run is done).
    pub fn report(&self) -> &GcReport {
        &self.report
    }

    /// What the next unit does.
    pub fn stage(&self) -> GcStage {
        match self.phase {
            Phase::Mark(_) => GcStage::Mark,
            Phase::Sweep { .. } => GcStage::Sweep,
            Phase::Reach(None) => GcStage::Pin,
            Phase::Reach(Some(_)) => GcStage::Reach,
            Phase::Free { .. } => GcStage::Free,
            Phase::Done => GcStage::Done,
        }
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Starts a stepped run with the default transaction sizes: its view
    /// is pinned (see the module comment), so other operations may run
    /// between its steps. Ends any other GC run.
    pub fn gc_start(&mut self, dry_run: bool) -> Result<GcRunOf<T, C>, FsError> {
        self.gc_begin(dry_run, true, GcSteps::default())
    }

    /// [`Fs::gc_start`] with explicit transaction sizes.
    pub fn gc_start_with(
        &mut self,
        dry_run: bool,
        steps: GcSteps,
    ) -> Result<GcRunOf<T, C>, FsError> {
        self.gc_begin(dry_run, true, steps)
    }

    /// A run; with `pin` other operations may run between its steps,
    /// without nothing may change until it is done.
    pub(crate) fn gc_begin(
        &mut self,
        dry_run: bool,
        pin: bool,
        steps: GcSteps,
    ) -> Result<GcRunOf<T, C>, FsError> {
        // One run at a time: the previous one's pin goes (it stops).
        self.pinned.retain(|(k, _)| k & GC_PIN == 0);
        // The real run's epoch and the pins commit together: from the
        // moment the view is fixed, every chunk put is kept by the epoch.
        let (epoch, table, live) = if pin {
            self.atomically(|fs| {
                let epoch = if dry_run {
                    None
                } else {
                    Some(fs.state.content.begin_gc()?)
                };
                let table = cowbtree::snapshot(&mut fs.state.snaps)?;
                Ok((epoch, table, cowbtree::snapshot(&mut fs.state.live)?))
            })?
        } else {
            let epoch = if dry_run {
                None
            } else {
                Some(self.atomically(|fs| fs.state.content.begin_gc())?)
            };
            (epoch, self.state.snaps, self.state.live)
        };
        let own = vec![Pinned::Table(table), Pinned::Tree(live)];
        let mut roots = own.clone();
        roots.extend(self.pinned.iter().flat_map(|(_, p)| p.iter().copied()));
        let key = GC_PIN | self.next_pin;
        self.next_pin += 1;
        self.pinned.push((key, own));
        let gc = match self.state.content.gc(epoch, self.dev.block_count()) {
            Ok(gc) => gc,
            Err(e) => {
                self.pinned.retain(|(k, _)| *k != key);
                return Err(e);
            }
        };
        Ok(GcRun {
            pin: key,
            pinned: pin,
            steps: GcSteps {
                sweep: steps.sweep.max(1),
                free: steps.free.max(1),
                reach: steps.reach.max(1),
            },
            roots,
            phase: Phase::Mark(Marking {
                gc,
                source: 0,
                table_after: None,
                queue: VecDeque::new(),
                after: None,
            }),
            report: GcReport {
                dry_run,
                ..GcReport::default()
            },
        })
    }

    /// Whether `run` is this filesystem's current GC run: not ended by a
    /// newer run, not started on an earlier mount, not finished.
    pub fn gc_is_current<G>(&self, run: &GcRun<G>) -> bool {
        self.pinned.iter().any(|(k, _)| *k == run.pin)
    }

    /// Ends a run early (a client gone, an error): unpins its view. What
    /// its committed steps did stays done; a later GC finishes the job.
    pub fn gc_abandon<G>(&mut self, run: GcRun<G>) {
        self.pinned.retain(|(k, _)| *k != run.pin);
    }

    /// The run's report (complete if `gc_step` said done); ends the run.
    pub fn gc_finish<G>(&mut self, run: GcRun<G>) -> GcReport {
        let report = run.report.clone();
        self.gc_abandon(run);
        self.event(format!(
            "gc{}: {} chunks / {} bytes swept, {} blocks freed",
            if report.dry_run { " (dry run)" } else { "" },
            report.sweep.chunks,
            report.sweep.bytes,
            report.blocks_freed
        ));
        report
    }

    /// Does up to `budget` units of work (at least one); `true` when the
    /// run is done, or was ended by a newer run (then it did nothing). An
    /// error ends the run: abandon it.
    pub fn gc_step(&mut self, run: &mut GcRunOf<T, C>, budget: usize) -> Result<bool, FsError> {
        for _ in 0..budget.max(1) {
            if !self.gc_is_current(run) {
                run.phase = Phase::Done;
                return Ok(true);
            }
            if self.gc_unit(run)? {
                return Ok(true);
            }
        }
        Ok(matches!(run.phase, Phase::Done))
    }

    /// One unit of work; `true` when the run is done.
    fn gc_unit(&mut self, run: &mut GcRunOf<T, C>) -> Result<bool, FsError> {
        let phase = core::mem::replace(&mut run.phase, Phase::Done);
        run.phase = match phase {
            Phase::Mark(m) => self.mark_unit(run, m)?,
            Phase::Sweep { mut gc } => {
                let step = run.steps.sweep;
                let done = if run.report.dry_run {
                    self.state
                        .content
                        .sweep_step(&mut self.dev, &mut gc, step)?
                } else {
                    self.atomically(|fs| fs.state.content.sweep_step(&mut fs.dev, &mut gc, step))?
                };
                if done {
                    run.report.sweep = self.state.content.sweep_report(&gc);
                    // The view is no longer needed: what writes left of
                    // it is reclaimed below. The entry stays, empty: it
                    // is what makes the run current.
                    for (k, trees) in self.pinned.iter_mut() {
                        if *k == run.pin {
                            trees.clear();
                        }
                    }
                    Phase::Reach(None)
                } else {
                    Phase::Sweep { gc }
                }
            }
            Phase::Reach(None) => Phase::Reach(Some(self.reach_begin(run.pinned)?)),
            Phase::Reach(Some(reach)) => match self.reach_unit(reach, run.steps.reach)? {
                ReachStep::More(reach) => Phase::Reach(Some(reach)),
                ReachStep::Done(doomed) => self.doomed(run, doomed),
            },
            Phase::Free { doomed, next } => self.free_unit(run, doomed, next)?,
            Phase::Done => Phase::Done,
        };
        Ok(matches!(run.phase, Phase::Done))
    }

    /// Marks one page of extent records of the current tree, or reads
    /// one page of a pinned snapshot table's records (the trees to mark
    /// next).
    fn mark_unit(
        &mut self,
        run: &mut GcRunOf<T, C>,
        mut m: Marking<C::Gc>,
    ) -> Result<Phase<C::Gc>, FsError> {
        if m.queue.is_empty() {
            match run.roots.get(m.source).copied() {
                None => return Ok(Phase::Sweep { gc: m.gc }),
                Some(Pinned::Tree(tree)) => {
                    m.source += 1;
                    m.queue.push_back(tree);
                }
                Some(Pinned::Table(table)) => {
                    let page = self.table_page(&table, m.table_after.as_deref(), TABLE_PAGE)?;
                    m.table_after = match page.last() {
                        Some((name, _)) if page.len() == TABLE_PAGE => Some(name.clone()),
                        _ => {
                            m.source += 1;
                            None
                        }
                    };
                    for (name, value) in &page {
                        m.queue.push_back(decode_record(name, value)?.1.root);
                    }
                    return Ok(Phase::Mark(m));
                }
            }
        }
        let Some(root) = m.queue.front().copied() else {
            return Ok(Phase::Mark(m));
        };
        if m.after.is_none() {
            run.report.roots += 1;
        }
        let batch = self.extent_batch(&root, m.after.as_deref(), MARK_PAGE)?;
        for (_, ext) in &batch {
            // A hole or inline data has no chunk to keep.
            let FileExtent::Chunk(ext) = ext else {
                continue;
            };
            self.state.content.mark(&mut self.dev, &mut m.gc, ext)?;
            run.report.extents_scanned += 1;
            run.report.bytes_scanned += u64::from(ext.len);
        }
        m.after = match batch.last() {
            Some((last, _)) if batch.len() == MARK_PAGE => Some(last.clone()),
            _ => {
                m.queue.pop_front();
                None
            }
        };
        Ok(Phase::Mark(m))
    }

    /// The reach is done: what it found, and the frees to do. A dry
    /// run's sweep freed nothing, so chunks it would free still count as
    /// reachable; their blocks are in `report.sweep.blocks`.
    fn doomed(&mut self, run: &mut GcRunOf<T, C>, doomed: Doomed) -> Phase<C::Gc> {
        run.report.blocks_reachable = doomed.reached();
        run.report.blocks_freed = doomed.count();
        if run.report.dry_run || run.report.blocks_freed == 0 {
            return Phase::Done;
        }
        let next = self.data_start();
        Phase::Free { doomed, next }
    }

    /// Frees up to `GcSteps::free` runs of doomed blocks from `next`, in
    /// one transaction.
    fn free_unit(
        &mut self,
        run: &mut GcRunOf<T, C>,
        doomed: Doomed,
        next: u64,
    ) -> Result<Phase<C::Gc>, FsError> {
        let end = doomed.block_count();
        let mut batch: Vec<Extent> = Vec::new();
        let mut b = next;
        while b < end {
            if !doomed.is_marked(b) {
                b += 1;
                continue;
            }
            if batch.len() == run.steps.free {
                break;
            }
            let start = b;
            while b < end && doomed.is_marked(b) {
                b += 1;
            }
            batch.push(Extent::new(start, b - start));
        }
        if !batch.is_empty() {
            self.atomically(|fs| {
                for e in &batch {
                    fs.dev.free(*e)?;
                }
                Ok(())
            })?;
        }
        Ok(if b >= end {
            Phase::Done
        } else {
            Phase::Free { doomed, next: b }
        })
    }
}
