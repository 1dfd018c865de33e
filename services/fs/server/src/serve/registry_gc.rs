//! `RegistryGc`: the registry's garbage collection with the caller's grace
//! period, the service's idle-upload limit and the wall-clock time; in one
//! request, or (`registry_gc_step`) a bounded step per request, driven by
//! its client, other clients served between steps (what they push or link
//! meanwhile is kept: `filesystem::registry_gc`, "In bounded steps"). The
//! service keeps one stepped run, its owner's; the owner's death drops it
//! (`Service::client_died`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::chunks::RemoteGc;
use filesystem::registry_gc::DEFAULT_UPLOAD_MAX_IDLE_SECS;
use filesystem::{RegistryGcOptions, RegistryGcReport, RegistryGcRun};
use fs_api::{FsError, Stepped, Text};

/// Units of registry GC work per `registry_gc_step` request: a unit is a
/// repository, the global uploads, 64 blobs swept, or a unit of the chunk
/// GC (`filesystem::gc_run`).
const STEP_UNITS: usize = 4;

/// The service's stepped registry GC (with its grace period) and the
/// badge of its client.
pub(super) type RegistryGcJob = Job<(u64, RegistryGcRun<RemoteGc>)>;

use super::job::Job;
use super::{send_text, Out, Outcome, Service};

impl Service {
    pub(super) fn registry_gc(
        &mut self,
        dry_run: bool,
        grace_secs: u64,
        out: &Out<'_>,
    ) -> Outcome<Text> {
        let r = self.reg()?.registry_gc(&options(dry_run, grace_secs)?)?;
        send_text(out, &report_text(&r, grace_secs))
    }

    /// One step of `badge`'s stepped registry GC (`restart`: a new run).
    pub(super) fn registry_gc_step(
        &mut self,
        badge: u64,
        restart: bool,
        dry_run: bool,
        grace_secs: u64,
        out: &Out<'_>,
    ) -> Outcome<Stepped> {
        let mut slot = self.registry_gc_job.take();
        let reg = self.reg()?;
        let mut job = if restart {
            if let Some(old) = slot.take() {
                reg.registry_gc_finish(old.run.1);
            }
            let run = reg.registry_gc_start(&options(dry_run, grace_secs)?)?;
            Job::new(badge, (grace_secs, run))
        } else {
            match Job::claim(&mut slot, badge, |(_, run)| reg.registry_gc_is_current(run)) {
                Some(job) => job,
                None => {
                    self.registry_gc_job = slot;
                    return Err(FsError::NoRegistryGcRun {}.into());
                }
            }
        };
        match reg.registry_gc_step(&mut job.run.1, STEP_UNITS) {
            Ok(false) => {
                self.registry_gc_job = Some(job);
                Ok(Stepped::MORE)
            }
            Ok(true) => {
                let (grace, run) = job.run;
                let r = reg.registry_gc_finish(run);
                Ok(Stepped {
                    text: send_text(out, &report_text(&r, grace))?,
                    done: 1,
                })
            }
            Err(e) => {
                reg.registry_gc_finish(job.run.1);
                Err(e.into())
            }
        }
    }
}

/// The options of a registry GC now.
fn options(dry_run: bool, grace_secs: u64) -> Result<RegistryGcOptions, FsError> {
    let now = userlib::sys::unix_time().ok_or(FsError::NoClock {})?;
    Ok(RegistryGcOptions {
        dry_run,
        delete_untagged: true,
        now,
        grace_secs,
        upload_max_idle_secs: DEFAULT_UPLOAD_MAX_IDLE_SECS,
    })
}

/// The report's text: one line per removal, then the counts.
fn report_text(r: &RegistryGcReport, grace_secs: u64) -> String {
    let dry_run = r.dry_run;
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut text = String::new();
    for line in &r.lines {
        let _ = writeln!(text, "{verb} {line}");
    }
    let _ = writeln!(
            text,
            "registry gc{}: {} repositories; {verb} {} of {} manifests, {} of {} blobs ({} bytes), {} idle uploads; kept {} unreferenced objects younger than {} s",
            if dry_run { " (dry run)" } else { "" },
            r.repositories,
            r.manifests_removed,
            r.manifests_removed + r.manifests_kept,
            r.blobs_removed,
            r.blobs_removed + r.blobs_kept,
            r.blob_bytes_removed,
            r.uploads_removed,
            r.kept_in_grace,
            grace_secs,
        );
    if let Some(c) = &r.chunks {
        let _ = writeln!(
            text,
            "gc: freed {} chunks ({} bytes, {} blocks)",
            c.sweep.chunks, c.sweep.bytes, c.sweep.blocks
        );
    }
    text
}
