//! A snapshot's space, in bounded steps: how many bytes of stored chunks
//! snapshot S names, how many of those no other tree names (exclusive) and
//! how many another tree also names (shared). `snap space NAME`.
//!
//! # What it answers
//! Let C(S) be the set of distinct chunks S's files name (a chunk named
//! several times, in one file or in several, counts once; holes and inline
//! data name nothing: inline bytes live in the tree nodes). Let O be the
//! union of the chunks named by every *other* tree: the live tree (files
//! being put or uploaded included) and every other snapshot. Then, each chunk weighed by its length in bytes (what the
//! content store holds for it, before block rounding):
//! - `stored_bytes`   = bytes of C(S);
//! - `exclusive_bytes` = bytes of C(S) \ O: what deleting S and running
//!   GC would free;
//! - `shared_bytes`   = bytes of C(S) ∩ O; exclusive + shared = stored.
//!
//! The trees are those of one moment, the run's start: in one transaction
//! [`Fs::snapshot_space_start`] pins copy-on-write snapshots of the live
//! tree and of the snapshot table (as a stepped fsck or GC does, `pins`).
//! Those two roots stay in `Fs::pinned` until the run ends, so the trees
//! they fix (the pinned table names every snapshot of the moment) are
//! never written again and GC keeps every chunk they name. Writes,
//! deletes, snapshots taken or removed (S itself included) between units
//! therefore change nothing the run reads: it answers for its start.
//!
//! # How: two bits per block, never a map
//! Chunks are told apart by their first block (the content index says
//! where each is stored, `Chunks::locate`): no two chunks the pinned trees
//! name share a first block, since GC frees none of them meanwhile.
//! 1. Walk S's extent records; mark each chunk's first block in `mine`
//!    (a chunk newly marked adds its bytes to `stored`).
//! 2. Walk every other tree's extent records; a chunk whose first block is
//!    in `mine` is marked in `other` (newly: its bytes go to `shared`).
//!    The same bitmap `other` also marks the tree nodes this pass read: a
//!    node reached again through another pinned tree is the same node
//!    (pinned nodes are never written), so it is not read twice. Node and
//!    chunk blocks are disjoint, so one bitmap holds both.
//!
//! The walks read the trees node by node, only the branches whose key
//! range meets the extent records (`records::TAG_EXTENT`), depth first.
//!
//! # Bounded units
//! A unit ([`Fs::snapshot_space_step`]) reads at most `nodes` nodes: tree
//! nodes (one each) and the content index lookups of the extents the
//! leaves read named (at most the index's height each; a batch of lookups
//! is one call, sharing the nodes it reads). The other trees come from the
//! pinned table a page at a time, a unit of its own reading at most
//! `nodes` nodes. The start reads S's record and commits the two pins.
//!
//! # Memory
//! Two bits per block of the store, the roots of one page of the table,
//! the pending children of the tree being walked (one node's worth per
//! level) and the extents of one leaf waiting for their lookups: nothing
//! grows with the number of snapshots.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use block::{Extent, Transactional};
use content::{ChunkMarks, ChunkRef};
use cowbtree::node::{BranchEntry, Entries};
use cowbtree::TreeRoot;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::pins::{self, Pinned, TABLE_PAGE};
use crate::records::{self, TAG_EXTENT};

/// Nodes a unit reads by default.
pub const SPACE_NODES: usize = 256;

/// What [`Fs::snapshot_space_finish`] answers (see the module comment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotSpace {
    pub name: String,
    /// Sum of its files' sizes when taken (from its record).
    pub logical_bytes: u64,
    /// Distinct chunks it names, and their bytes.
    pub chunks: u64,
    pub stored_bytes: u64,
    /// Those no other tree names: freed by deleting it (and GC).
    pub exclusive_chunks: u64,
    pub exclusive_bytes: u64,
    /// Those the live tree or another snapshot names too.
    pub shared_chunks: u64,
    pub shared_bytes: u64,
    /// Trees compared with it: the live tree and the other snapshots.
    pub other_trees: u64,
    /// The walk reached its end: the figures are the answer. False when
    /// the run ended before (its pin dropped): they are partial.
    pub complete: bool,
    /// Tree nodes read (S's, and all), and units run: the cost, not part
    /// of the answer.
    pub target_nodes: u64,
    pub nodes_read: u64,
    pub units: u64,
}

/// A run in progress. Drive it with [`Fs::snapshot_space_step`] until that
/// answers `true`, then [`Fs::snapshot_space_finish`].
pub struct SpaceRun {
    /// Its key in `Fs::pinned`.
    pin: u64,
    /// Nodes read per unit at most.
    nodes: usize,
    /// The pinned snapshot table and live tree.
    table: TreeRoot,
    live: TreeRoot,
    /// Trees to walk, the one being walked first: S, then a page of the
    /// other snapshots at a time, then the live tree.
    trees: VecDeque<TreeRoot>,
    /// S is the front of `trees` (pass 1).
    on_target: bool,
    /// The last table record taken (`None`: none yet); the table's end was
    /// reached; the live tree was queued; every tree is walked.
    table_after: Option<Vec<u8>>,
    table_done: bool,
    live_queued: bool,
    finished: bool,
    /// The front tree's root was taken into `pending`.
    started: bool,
    /// Nodes of that tree still to read: (block, level).
    pending: Vec<(u64, u8)>,
    /// Chunks of the last leaf read, waiting for their lookups, and the
    /// inode each came from (for a message).
    refs: Vec<(ChunkRef, u64)>,
    mine: ChunkMarks,
    other: ChunkMarks,
    report: SnapshotSpace,
}

impl SpaceRun {
    /// The answer so far (complete once the run is done).
    pub fn report(&self) -> &SnapshotSpace {
        &self.report
    }

    fn done(&self) -> bool {
        self.finished
    }
}

/// Whether child `i` of a branch may hold extent records: its key range
/// `[entries[i].key, entries[i + 1].key)` meets `[TAG_EXTENT, TAG_EXTENT + 1)`.
fn holds_extents(entries: &[BranchEntry], i: usize) -> bool {
    let lo = [TAG_EXTENT];
    let hi = [TAG_EXTENT + 1];
    let starts_below_hi = entries.get(i).is_some_and(|e| e.key.as_slice() < &hi[..]);
    let ends_above_lo = entries
        .get(i + 1)
        .is_none_or(|e| e.key.as_slice() > &lo[..]);
    starts_below_hi && ends_above_lo
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Starts a run over snapshot `name` with units of [`SPACE_NODES`]
    /// nodes. `SnapshotNotFound` if there is none.
    pub fn snapshot_space_start(&mut self, name: &str) -> Result<SpaceRun, FsError> {
        self.snapshot_space_start_with(name, SPACE_NODES)
    }

    /// [`Fs::snapshot_space_start`] with units of at most `nodes` nodes
    /// (raised to the content index's height plus one, so a unit always
    /// gets on).
    pub fn snapshot_space_start_with(
        &mut self,
        name: &str,
        nodes: usize,
    ) -> Result<SpaceRun, FsError> {
        let target = self.snapshot_record(name)?;
        let (table, live) = self.atomically(|fs| {
            let table = cowbtree::snapshot(&mut fs.state.snaps)?;
            Ok((table, cowbtree::snapshot(&mut fs.state.live)?))
        })?;
        let key = self.next_pin;
        self.next_pin += 1;
        self.pinned
            .push((key, vec![Pinned::Table(table), Pinned::Tree(live)]));
        let blocks = self.dev.block_count();
        Ok(SpaceRun {
            pin: key,
            nodes: nodes.max(1),
            table,
            live,
            trees: VecDeque::from([target.root]),
            on_target: true,
            table_after: None,
            table_done: false,
            live_queued: false,
            finished: false,
            started: false,
            pending: Vec::new(),
            refs: Vec::new(),
            mine: ChunkMarks::new(blocks),
            other: ChunkMarks::new(blocks),
            report: SnapshotSpace {
                name: String::from(name),
                logical_bytes: target.logical_bytes,
                ..SnapshotSpace::default()
            },
        })
    }

    /// Whether `run` is pinned in this filesystem (a run of an earlier
    /// mount is not, and must not be stepped here).
    pub fn snapshot_space_is_current(&self, run: &SpaceRun) -> bool {
        self.pinned.iter().any(|(k, _)| *k == run.pin)
    }

    /// Ends a run early (a client gone, an error): unpins its trees.
    pub fn snapshot_space_abandon(&mut self, run: SpaceRun) {
        self.pinned.retain(|(k, _)| *k != run.pin);
    }

    /// The run's answer (complete if the last step said done); unpins.
    pub fn snapshot_space_finish(&mut self, run: SpaceRun) -> SnapshotSpace {
        let report = run.report.clone();
        self.snapshot_space_abandon(run);
        report
    }

    /// The whole run in one call (nothing else runs meanwhile).
    pub fn snapshot_space(&mut self, name: &str) -> Result<SnapshotSpace, FsError> {
        let mut run = self.snapshot_space_start(name)?;
        loop {
            match self.snapshot_space_step(&mut run, usize::MAX) {
                Ok(true) => return Ok(self.snapshot_space_finish(run)),
                Ok(false) => {}
                Err(e) => {
                    self.snapshot_space_abandon(run);
                    return Err(e);
                }
            }
        }
    }

    /// Does up to `budget` units (at least one); `true` when the run is
    /// done. A run no longer pinned here (abandoned, or of an earlier
    /// mount) reads nothing more, since its trees' nodes may be gone: it
    /// answers done, its report not `complete`. An error ends the run:
    /// abandon it.
    pub fn snapshot_space_step(
        &mut self,
        run: &mut SpaceRun,
        budget: usize,
    ) -> Result<bool, FsError> {
        if !self.snapshot_space_is_current(run) {
            run.finished = true;
            return Ok(true);
        }
        for _ in 0..budget.max(1) {
            if run.done() {
                break;
            }
            self.space_unit(run)?;
        }
        Ok(run.done())
    }

    /// One unit: at most `run.nodes` node reads (see the module comment).
    fn space_unit(&mut self, run: &mut SpaceRun) -> Result<(), FsError> {
        run.report.units += 1;
        let height = u64::from(self.index_height()?.max(1));
        let budget = (run.nodes as u64).max(height + 1);
        let mut read = 0u64;
        while read < budget {
            if !run.refs.is_empty() {
                let room = budget - read;
                if room < height {
                    break;
                }
                let take = usize::try_from(room / height)
                    .unwrap_or(usize::MAX)
                    .min(run.refs.len());
                self.locate_batch(run, take)?;
                read += take as u64 * height;
                continue;
            }
            let Some((block, level)) = run.pending.pop() else {
                // The tree is walked (or not started): the next one.
                if run.started {
                    run.trees.pop_front();
                    run.on_target = false;
                    run.started = false;
                }
                if run.trees.is_empty() {
                    if read > 0 {
                        // A page of the table is a unit of its own.
                        break;
                    }
                    if !self.queue_trees(run)? {
                        run.finished = true;
                        break;
                    }
                    read = budget;
                    continue;
                }
                let Some(root) = run.trees.front() else {
                    break;
                };
                run.pending
                    .push((root.block, root.height.saturating_sub(1)));
                run.started = true;
                continue;
            };
            // Another pinned tree reached this node before: the same
            // node (pinned nodes are never written), the same subtree.
            if !run.on_target && !run.other.mark_block(block) {
                continue;
            }
            let node = cowbtree::read_node(&mut self.dev, block, level)?;
            read += 1;
            run.report.nodes_read += 1;
            if run.on_target {
                run.report.target_nodes += 1;
            }
            match node.entries {
                Entries::Branch(children) => {
                    let below = level.checked_sub(1).ok_or(FsError::Corrupt {
                        what: "branch node at level 0",
                        ino: 0,
                    })?;
                    for i in (0..children.len()).rev() {
                        if holds_extents(&children, i) {
                            run.pending.push((children[i].child, below));
                        }
                    }
                }
                Entries::Leaf(entries) => {
                    for e in entries {
                        if e.key.first() != Some(&TAG_EXTENT) {
                            continue;
                        }
                        let ino = match records::parse_key(&e.key) {
                            Ok(records::Key::Extent { ino, .. }) => ino,
                            _ => 0,
                        };
                        let ext = records::Extent::decode(&e.value)
                            .map_err(|problem| FsError::BadRecord { ino, problem })?;
                        // A hole or inline data names no chunk.
                        if let records::Extent::Chunk(c) = ext {
                            run.refs.push((c, ino));
                        }
                    }
                }
            }
        }
        // The last tree walked to its end: done now, not one unit later.
        let last = run.trees.len() == 1 && run.live_queued;
        if run.started && last && run.pending.is_empty() && run.refs.is_empty() {
            run.trees.clear();
            run.started = false;
            run.finished = true;
        }
        if run.done() {
            run.report.complete = true;
        }
        Ok(())
    }

    /// Queues the next trees to compare with S: a page of the pinned
    /// table's snapshots (S skipped), reading at most `run.nodes` nodes
    /// (the table's height, then at most a leaf per record), or once the
    /// table is done the live tree. `false`: every tree was queued.
    fn queue_trees(&mut self, run: &mut SpaceRun) -> Result<bool, FsError> {
        if !run.table_done {
            let height = usize::from(run.table.height);
            let limit = run.nodes.saturating_sub(height).clamp(1, TABLE_PAGE);
            let page = self.table_page(&run.table, run.table_after.as_deref(), limit)?;
            run.table_done = page.len() < limit;
            for (key, value) in page {
                let (n, rec) = pins::decode_record(&key, &value)?;
                if n != run.report.name {
                    run.trees.push_back(rec.root);
                    run.report.other_trees += 1;
                }
                run.table_after = Some(key);
            }
            if !run.trees.is_empty() || !run.table_done {
                return Ok(true);
            }
        }
        if run.live_queued {
            return Ok(false);
        }
        run.live_queued = true;
        run.trees.push_back(run.live);
        run.report.other_trees += 1;
        Ok(true)
    }

    /// Looks up the first `take` chunks of `run.refs` and marks them.
    fn locate_batch(&mut self, run: &mut SpaceRun, take: usize) -> Result<(), FsError> {
        let batch: Vec<(ChunkRef, u64)> = run.refs.drain(..take).collect();
        let refs: Vec<ChunkRef> = batch.iter().map(|(r, _)| *r).collect();
        let mut found: Vec<Extent> = Vec::with_capacity(refs.len());
        self.state
            .content
            .locate(&mut self.dev, &refs, &mut found)?;
        if let Some((_, ino)) = batch.get(found.len()) {
            return Err(FsError::Corrupt {
                what: "a snapshot names a chunk the content store does not hold",
                ino: *ino,
            });
        }
        // S's walk is pass 1.
        let in_s = run.on_target;
        for (r, e) in refs.iter().zip(&found) {
            let len = u64::from(r.len);
            if in_s {
                if run.mine.mark_block(e.start) {
                    run.report.chunks += 1;
                    run.report.stored_bytes += len;
                }
            } else if run.mine.is_marked(e.start) && run.other.mark_block(e.start) {
                run.report.shared_chunks += 1;
                run.report.shared_bytes += len;
            }
        }
        run.report.exclusive_chunks = run.report.chunks - run.report.shared_chunks;
        run.report.exclusive_bytes = run.report.stored_bytes - run.report.shared_bytes;
        Ok(())
    }

    /// The content index's height now (each lookup reads at most that).
    fn index_height(&self) -> Result<u8, FsError> {
        Ok(
            content::ContentStore::open(&self.state.content.encode_root())
                .map_err(FsError::BadContentRoot)?
                .root()
                .index
                .height,
        )
    }
}
