//! Chunk GC: in one request (`gc`), or (`gc_step`) a bounded step per
//! request, driven by its client, other clients' requests, writes too,
//! served between steps (`filesystem::gc_run`: the run marks a pinned
//! view; what others write meanwhile is kept, what they delete goes at the
//! next GC; the block reach walks roots pinned at one moment, 256 nodes
//! per unit). The service keeps one run, its
//! owner's: a client's restart replaces it (one GC runs at a time), the
//! owner's death drops it (`Service::client_died`), and a gone run is
//! `NoGcRun`.

use alloc::format;
use alloc::string::String;

use block_api::client::BlockClient;
use content_api::client::ContentClient;
use filesystem::{GcReport, GcRunOf};
use fs_api::{FsError, Stepped, Text};

use super::job::Job;
use super::{send_text, Out, Outcome, Service};

/// Units of GC work per `gc_step` request: a unit is 256 extent records
/// marked, a sweep transaction of 512 index entries, the reach's pin, 256
/// nodes of the block reach, or a free transaction of 256 extents.
const GC_STEP_UNITS: usize = 4;

/// The service's stepped GC and the badge of the client driving it.
pub(super) type GcJob = Job<GcRunOf<BlockClient, ContentClient>>;

impl Service {
    pub(super) fn gc(&mut self, dry_run: bool, out: &Out<'_>) -> Outcome<Text> {
        let r = self.reg()?.fs().gc(dry_run)?;
        send_text(out, &gc_text(&r))
    }

    /// One step of `badge`'s stepped GC (`restart`: a new run).
    pub(super) fn gc_step(
        &mut self,
        badge: u64,
        restart: bool,
        dry_run: bool,
        out: &Out<'_>,
    ) -> Outcome<Stepped> {
        let mut slot = self.gc_job.take();
        let fs = self.reg()?.fs();
        let mut job = if restart {
            if let Some(old) = slot.take() {
                fs.gc_abandon(old.run);
            }
            match fs.gc_start(dry_run) {
                Ok(run) => Job::new(badge, run),
                // The store refused the pin's transaction (read-only
                // after a disk fault): a dry run reports in this one
                // request, as `gc` does, rather than not at all.
                Err(_) if dry_run => {
                    return Ok(Stepped {
                        text: self.gc(true, out)?,
                        done: 1,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            // Ended by a newer run (the registry GC's), or from before the
            // service mounted again: gone.
            match Job::claim(&mut slot, badge, |run| fs.gc_is_current(run)) {
                Some(job) => job,
                None => {
                    self.gc_job = slot;
                    return Err(FsError::NoGcRun {}.into());
                }
            }
        };
        match fs.gc_step(&mut job.run, GC_STEP_UNITS) {
            Ok(false) => {
                self.gc_job = Some(job);
                Ok(Stepped::MORE)
            }
            Ok(true) => {
                let current = fs.gc_is_current(&job.run);
                let r = fs.gc_finish(job.run);
                if !current {
                    return Err(FsError::NoGcRun {}.into());
                }
                Ok(Stepped {
                    text: send_text(out, &gc_text(&r))?,
                    done: 1,
                })
            }
            Err(e) => {
                fs.gc_abandon(job.run);
                Err(e.into())
            }
        }
    }
}

/// `gc`'s report.
fn gc_text(r: &GcReport) -> String {
    let verb = if r.dry_run { "would free" } else { "freed" };
    format!(
        "gc{}: marked {} roots, {} extents ({} bytes); {verb} {} chunks ({} bytes, {} blocks) of {} scanned and {} unreachable blocks; {} blocks reachable\n",
        if r.dry_run { " (dry run)" } else { "" },
        r.roots,
        r.extents_scanned,
        r.bytes_scanned,
        r.sweep.chunks,
        r.sweep.bytes,
        r.sweep.blocks,
        r.sweep.scanned,
        r.blocks_freed,
        r.blocks_reachable
    )
}
