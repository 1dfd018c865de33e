//! Garbage collection over everything: chunks, then tree nodes and blocks.
//!
//! 1. Begin a content-store epoch (one transaction): chunks put from now on
//!    are kept whatever the marks say.
//! 2. Mark every chunk referenced by the live tree and by every snapshot.
//!    Uploads in progress are files of the live tree (`_uploads/<id>/data`),
//!    so they are pinned by construction.
//! 3. Sweep the chunk index in steps of [`SWEEP_STEP`] entries (by default), one
//!    transaction each: unmarked chunks of older epochs are removed and
//!    their extents freed.
//! 4. Mark every block reachable from a root: the live tree, every
//!    snapshot, the snapshot table, the chunk index and the chunks' data.
//!    Free every allocated data block nobody reaches (nodes left behind by
//!    copy-on-write, by a restore, by a deleted snapshot), up to
//!    [`FREE_STEP`] extents per transaction (by default; see [`GcSteps`]).
//!
//! A dry run does steps 2-4 without a transaction and without writing.
//!
//! The collection runs as a resumable run ([`crate::gc_run`]): in bounded
//! steps with other requests between them (`Fs::gc_start`), or in one call
//! ([`Fs::gc`]). The stepped run pins its view (a dry one too: one
//! transaction that changes no data); the module says why nothing
//! reachable is ever freed with writes between its steps.
//!
//! # Crash safety
//! Every step is a transaction that commits the root block with it. A
//! crash leaves the store as after the last committed step: whatever was
//! freed was unreachable, so the trees, the index and the counters agree.
//! Running GC again finishes the job.

use alloc::vec::Vec;
use core::ops::Bound;

use block::{Transactional, ROOT_SLOTS};
use content::{ChunkMarks, SweepReport};

use crate::chunks::Chunks;
use crate::gc_reach::ReachStep;
use cowbtree::TreeRoot;

use crate::error::FsError;
use crate::fs::Fs;
use crate::records::{self, Extent as FileExtent};

/// Chunk index entries looked at per sweep transaction.
pub const SWEEP_STEP: usize = 512;
/// Extents freed per block-GC transaction.
pub const FREE_STEP: usize = 256;
pub use crate::gc_reach::REACH_STEP;
/// How much one GC transaction (or reach unit) does. Smaller steps:
/// smaller transactions (and, in tests, more crash points inside a
/// collection, more requests between the reach's units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcSteps {
    /// Chunk index entries per sweep transaction.
    pub sweep: usize,
    /// Extents per free transaction.
    pub free: usize,
    /// Nodes read per unit of the block reach (`crate::gc_reach`).
    pub reach: usize,
}

impl Default for GcSteps {
    fn default() -> Self {
        GcSteps {
            sweep: SWEEP_STEP,
            free: FREE_STEP,
            reach: REACH_STEP,
        }
    }
}

/// What a collection did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Trees whose chunks were marked (live + snapshots).
    pub roots: u64,
    /// Extent records visited while marking.
    pub extents_scanned: u64,
    /// Bytes those extents cover (the data "scanned").
    pub bytes_scanned: u64,
    /// The chunk sweep.
    pub sweep: SweepReport,
    /// Blocks reachable from some root after the sweep.
    pub blocks_reachable: u64,
    /// Unreachable allocated blocks freed (would be freed).
    pub blocks_freed: u64,
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// The first block the block layer's allocator hands out. The block
    /// layer puts its root slots last before the data region
    /// (`[sb][bitmap][journal][roots][data]`); nothing below is ours.
    pub(crate) fn data_start(&self) -> u64 {
        self.dev.root_block(ROOT_SLOTS - 1) + 1
    }

    /// Up to `limit` extent records of `root` after `after` (key order).
    pub(crate) fn extent_batch(
        &mut self,
        root: &TreeRoot,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, FileExtent)>, FsError> {
        let lo = [records::TAG_EXTENT];
        let hi = [records::TAG_EXTENT + 1];
        let start = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Included(&lo[..]),
        };
        let mut cursor = cowbtree::range(&mut self.dev, root, start, Bound::Excluded(&hi))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((k, v)) = cursor.next_entry()? else {
                break;
            };
            let ino = match records::parse_key(&k) {
                Ok(records::Key::Extent { ino, .. }) => ino,
                _ => {
                    return Err(FsError::Corrupt {
                        what: "non-extent key in extent range",
                        ino: 0,
                    })
                }
            };
            let ext =
                FileExtent::decode(&v).map_err(|problem| FsError::BadRecord { ino, problem })?;
            out.push((k, ext));
        }
        Ok(out)
    }

    /// Marks every block some root reaches: the block reach of a GC run
    /// ([`crate::gc_reach`]) over the current roots, in this one call.
    pub(crate) fn mark_blocks(&mut self) -> Result<ChunkMarks, FsError> {
        let mut reach = self.reach_begin(false)?;
        loop {
            match self.reach_unit(reach, REACH_STEP)? {
                ReachStep::More(r) => reach = r,
                ReachStep::Done(doomed) => return Ok(doomed.into_reached()),
            }
        }
    }

    /// Collects garbage; with `dry_run` only reports what it would free.
    pub fn gc(&mut self, dry_run: bool) -> Result<GcReport, FsError> {
        self.gc_with(dry_run, GcSteps::default())
    }

    /// [`Fs::gc`] with explicit transaction sizes: the run of
    /// [`crate::gc_run`] without its pin, stepped to the end in this call
    /// (nothing else may change meanwhile). Ends any stepped run.
    pub fn gc_with(&mut self, dry_run: bool, steps: GcSteps) -> Result<GcReport, FsError> {
        let mut run = self.gc_begin(dry_run, false, steps)?;
        loop {
            match self.gc_step(&mut run, usize::MAX) {
                Ok(true) => return Ok(self.gc_finish(run)),
                Ok(false) => {}
                Err(e) => {
                    self.gc_abandon(run);
                    return Err(e);
                }
            }
        }
    }
}
