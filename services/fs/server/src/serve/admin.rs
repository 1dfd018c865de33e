//! Maintenance: fsck (in one request, or stepped), space figures,
//! statistics, shutdown. (Chunk GC: gc.rs.)
//!
//! A stepped fsck (`fsck_step`) is driven by its client: each request does
//! at most `FSCK_STEP_UNITS` units of `filesystem::fsck_run` work, so the
//! other clients' requests, writes included, are served between two of
//! its steps. The run checks a view the fs library pinned when it started
//! (see `fsck_run`'s invariants: nothing changed meanwhile can make it
//! report a false error). The service keeps one run, its owner's: a
//! client's restart replaces it, the owner's death drops it
//! (`Service::client_died`), and a gone run is `NoFsckRun`.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};

use block_api::client::BlockClient;
use content_api::client::ContentClient;
use filesystem::{FsckReport, FsckRunOf};
use fs_api::{Checked, FsError, FsckStepped, Space, Text};

use super::job::Job;
use super::{send_text, Out, Outcome, Service, HANDLE_CPU, HANDLE_WALL, LEASE_CPU, REQUESTS};

/// Units of fsck work per `fsck_step` request: a unit is 64 nodes of a
/// tree's shape check, a page of the content store's check (32 index
/// nodes), a page of 256 directory entries, 4096 records counted or 256
/// KiB of a blob hashed.
const FSCK_STEP_UNITS: usize = 8;

/// The service's stepped fsck run and the badge of the client driving it.
pub(super) type FsckJob = Job<FsckRunOf<BlockClient, ContentClient>>;

impl Service {
    pub(super) fn fsck(&mut self, out: &Out<'_>) -> Outcome<Checked> {
        let r = self.reg()?.fs().fsck(true)?;
        self.fsck_text(&r, out)
    }

    /// One step of `badge`'s stepped fsck (`restart`: a new run).
    pub(super) fn fsck_step(
        &mut self,
        badge: u64,
        restart: bool,
        out: &Out<'_>,
    ) -> Outcome<FsckStepped> {
        let mut slot = self.fsck_job.take();
        let fs = self.reg()?.fs();
        let mut job = if restart {
            if let Some(old) = slot.take() {
                fs.fsck_abandon(old.run);
            }
            match fs.fsck_start(true, true) {
                Ok(run) => Job::new(badge, run),
                // The store refused the pin's transaction (read-only after
                // a disk fault): check it in this one request, as `fsck`
                // does, rather than not at all.
                Err(_) => {
                    return Ok(FsckStepped {
                        checked: self.fsck(out)?,
                        done: 1,
                    })
                }
            }
        } else {
            // A run from before the service mounted again is not pinned
            // in this filesystem: gone.
            match Job::claim(&mut slot, badge, |run| fs.fsck_is_pinned(run)) {
                Some(job) => job,
                None => {
                    self.fsck_job = slot;
                    return Err(FsError::NoFsckRun {}.into());
                }
            }
        };
        let step = fs.fsck_step(&mut job.run, FSCK_STEP_UNITS);
        match step {
            Ok(false) => {
                let problems = job.run.report().problem_count;
                self.fsck_job = Some(job);
                Ok(FsckStepped {
                    checked: Checked {
                        text: Text::EMPTY,
                        problems,
                    },
                    done: 0,
                })
            }
            Ok(true) => {
                let r = fs.fsck_finish(job.run);
                Ok(FsckStepped {
                    checked: self.fsck_text(&r, out)?,
                    done: 1,
                })
            }
            Err(e) => {
                fs.fsck_abandon(job.run);
                Err(e.into())
            }
        }
    }

    /// `fsck`'s report: the filesystem's findings, then the block layer's.
    fn fsck_text(&mut self, r: &FsckReport, out: &Out<'_>) -> Outcome<Checked> {
        let fs = self.reg()?.fs();
        let mut text = format!(
            "filesystem: {} trees, {} dirs, {} files, {} extents, {} blobs verified, {} links checked: {} problems\n",
            r.trees, r.dirs, r.files, r.extents, r.blobs_verified, r.links_checked, r.problem_count
        );
        for p in &r.problems {
            let _ = writeln!(text, "  {p}");
        }
        for n in &r.notes {
            let _ = writeln!(text, "  note: {n}");
        }
        let mut block_text = vec![0u8; 8192];
        let n = fs
            .device_mut()
            .report(block_api::report::FSCK, &mut block_text)?;
        let block_text = String::from_utf8_lossy(&block_text[..n]);
        let block_clean = block_text.starts_with("block layer clean");
        if block_clean {
            text.push_str("block layer: clean\n");
        } else {
            text.push_str(&block_text);
        }
        let problems = r.problem_count + u64::from(!block_clean);
        if problems == 0 {
            text.push_str("fsck: clean\n");
        } else {
            let _ = writeln!(text, "fsck: {problems} problems");
        }
        Ok(Checked {
            text: send_text(out, &text)?,
            problems,
        })
    }

    pub(super) fn df(&mut self, out: &Out<'_>) -> Outcome<Space> {
        let fs = self.reg()?.fs();
        let s = fs.stats()?;
        let ratio_x100 = (s.dedup_ratio * 100.0) as u64;
        let mut text = format!(
            "logical {} bytes (file sizes)\nstored {} bytes in {} distinct chunks, {} bytes on disk\ndedup ratio {}.{:02}\nfree {} of {} bytes\n",
            s.logical_bytes,
            s.chunk_bytes,
            s.chunks,
            s.physical_bytes,
            ratio_x100 / 100,
            ratio_x100 % 100,
            s.free_bytes,
            s.total_bytes
        );
        // The block store's state line ("state: read-write" or
        // "state: read-only until the next boot: why").
        let mut buf = vec![0u8; 4096];
        let n = fs.device_mut().report(block_api::report::STATS, &mut buf)?;
        if let Some(state) = String::from_utf8_lossy(&buf[..n])
            .lines()
            .find(|l| l.starts_with("state: "))
        {
            let _ = writeln!(text, "{state}");
        }
        Ok(Space {
            text: send_text(out, &text)?,
            logical_bytes: s.logical_bytes,
            chunk_bytes: s.chunk_bytes,
            physical_bytes: s.physical_bytes,
            free_bytes: s.free_bytes,
        })
    }

    pub(super) fn stats(&mut self, out: &Out<'_>) -> Outcome<Text> {
        let fs = self.reg()?.fs();
        let mut text = String::new();
        let mut buf = vec![0u8; 4096];
        let n = fs.device_mut().report(block_api::report::STATS, &mut buf)?;
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        text.push_str("recent events:\n");
        let n = fs
            .device_mut()
            .report(block_api::report::EVENTS, &mut buf)?;
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            let _ = writeln!(text, "  block: {line}");
        }
        for e in fs.events() {
            let _ = writeln!(text, "  fs: {e}");
        }
        text.push_str(&self.group_line());
        let m = |c: &AtomicU64| c.load(Ordering::Relaxed) / 1_000_000;
        let wall = m(&HANDLE_WALL);
        let block = m(&block_api::client::CALL_CYCLES);
        let own = m(&HANDLE_CPU);
        let lease = m(&LEASE_CPU);
        // Wall cycles include whatever else ran meanwhile (the block and
        // content services, other clients, the host's descheduling); the
        // scheduled ones are the fs process's alone (kernel CPU_TIME).
        let _ = writeln!(
            text,
            "fs service: {} requests, {wall} Mcycles wall handling them, {block} of them waiting for the block service ({} calls); {own} Mcycles scheduled to the fs process: {lease} copying leases, {} in the filesystem code (chunking, hashing, trees)",
            REQUESTS.load(Ordering::Relaxed),
            block_api::client::CALLS.load(Ordering::Relaxed),
            own.saturating_sub(lease)
        );
        self.counters_text(&mut text);
        send_text(out, &text)
    }

    /// The deterministic counters of the data path (issue #13): this
    /// process's (`counters fs:`, its calls to the block service) and the
    /// content service's. A content service that does not answer leaves
    /// its lines out.
    fn counters_text(&mut self, text: &mut String) {
        use super::blobs::{LEASE_IN_BYTES, LEASE_OUT_BYTES};
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let Ok(reg) = self.reg() else { return };
        let b = reg.fs().device_mut().counters();
        let _ = writeln!(
            text,
            "counters fs: calls={} lease_in={} lease_out={} gathered={} block_calls={}\nfs calls to block: {}",
            n(&REQUESTS),
            n(&LEASE_IN_BYTES),
            n(&LEASE_OUT_BYTES),
            n(&filesystem::stream::GATHERED_BYTES),
            b.calls(),
            b,
        );
        if let Ok(t) = content_api::ContentClient::new(1).stats() {
            text.push_str(&t);
        }
    }

    /// Sync, then the block service writes everything home.
    pub(super) fn shutdown(&mut self) -> Outcome<()> {
        let fs = self.reg()?.fs();
        fs.sync()?;
        fs.device_mut().checkpoint()?;
        Ok(())
    }
}
