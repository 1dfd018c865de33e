//! Snapshots: listed and compared as text, a page per request; a
//! snapshot's space (`snap_space_step`) a bounded step per request, driven
//! by its client, other clients' requests served between steps
//! (`filesystem::snapshot_space`: the run reads a pinned view, so what
//! others change meanwhile does not alter its answer). The service keeps
//! one run, its owner's (`job::Job`, as the stepped GC). Create, restore
//! and remove are one library call each, in `serve.rs`.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;

use filesystem::{DiffCursor, SnapshotSpace, SpaceRun};
use fs_api::{DiffText, FsError, Stepped, Text, WallTime};

use super::job::Job;
use super::{send_text, Out, Outcome, Service};

/// Units of `snap space` work per request, each at most
/// `filesystem::SPACE_NODES` (256) node reads.
const SPACE_STEP_UNITS: usize = 4;

/// The service's stepped `snap space` and the badge of its client.
pub(super) type SpaceJob = Job<SpaceRun>;

/// Differing tree records the service compares for one `snap diff` page
/// (each gives at most two lines).
pub const DIFF_PAGE: usize = 256;

/// Snapshots the service lists per `snaps` request.
pub const LIST_PAGE: usize = 32;

/// Room kept at the end of `out` for the cursor (a tree key in hex).
const CURSOR_ROOM: u64 = DiffCursor::HEX_MAX as u64;

impl Service {
    /// Snapshots named after the first word of `after` (empty: from the
    /// first): whole lines as `out` holds, at most [`LIST_PAGE`] of them;
    /// `needed` > `written` when more follow.
    pub(super) fn snaps(&mut self, after: &str, out: &Out<'_>) -> Outcome<Text> {
        let after = after.split(' ').next().filter(|a| !a.is_empty());
        let (page, more) = self.reg()?.fs().snapshot_list_page(after, LIST_PAGE)?;
        let room = out.len();
        let mut text = String::new();
        let mut needed = 0u64;
        for s in &page {
            let mut line = String::new();
            let _ = writeln!(
                line,
                "{} logical {} bytes (taken {})",
                s.name,
                s.logical_bytes,
                WallTime(s.created)
            );
            let len = line.len() as u64;
            if needed == text.len() as u64 && needed + len <= room {
                text.push_str(&line);
            }
            needed += len;
        }
        if more {
            // Past the page: the caller pages on from the last line.
            needed += 1;
        }
        let written = text.len() as u64;
        if written > 0 {
            out.write(0, text.as_bytes())
                .map_err(|e| FsError::lease(1, e))?;
        }
        Ok(Text { written, needed })
    }

    /// A page of the changes from snapshot `a` to `b` (empty: the live
    /// tree) after `cursor` (empty: from the start): whole lines as `out`
    /// holds (cut only between the lines of two tree records), then the
    /// next page's cursor.
    pub(super) fn snap_diff_page(
        &mut self,
        a: &str,
        b: &str,
        cursor: &str,
        out: &Out<'_>,
    ) -> Outcome<DiffText> {
        let b = (!b.is_empty()).then_some(b);
        let after = match cursor {
            "" => None,
            hex => Some(DiffCursor::from_hex(hex).ok_or(FsError::BadArguments {})?),
        };
        let page = self
            .reg()?
            .fs()
            .snapshot_diff_page(Some(a), b, after.as_ref(), DIFF_PAGE)?;
        let room = out.len().saturating_sub(CURSOR_ROOM);
        let mut text = String::new();
        let mut next = page.next.clone();
        for (i, g) in page.groups.iter().enumerate() {
            let len: u64 = g.changes.iter().map(|c| c.line().len() as u64 + 1).sum();
            if text.len() as u64 + len > room {
                if i == 0 {
                    return Err(FsError::BufferTooSmall {
                        needed: len + CURSOR_ROOM,
                        have: out.len(),
                    }
                    .into());
                }
                // Cut here: the next page starts after the last record sent.
                next = Some(page.groups[i - 1].after.clone());
                break;
            }
            for c in &g.changes {
                text.push_str(&c.line());
                text.push('\n');
            }
        }
        let written = text.len() as u64;
        let cursor = next.map(|c| c.to_hex()).unwrap_or_default();
        text.push_str(&cursor);
        if !text.is_empty() {
            out.write(0, text.as_bytes())
                .map_err(|e| FsError::lease(1, e))?;
        }
        Ok(DiffText {
            written,
            cursor: cursor.len() as u64,
        })
    }

    /// One step of `badge`'s `snap space` run over snapshot `name`
    /// (`restart`: a new run, dropping any other).
    pub(super) fn snap_space_step(
        &mut self,
        badge: u64,
        restart: bool,
        name: &str,
        out: &Out<'_>,
    ) -> Outcome<Stepped> {
        let mut slot = self.space_job.take();
        let fs = self.reg()?.fs();
        let mut job = if restart {
            if let Some(old) = slot.take() {
                fs.snapshot_space_abandon(old.run);
            }
            Job::new(badge, fs.snapshot_space_start(name)?)
        } else {
            // Ended (the service mounted again), another client's, or for
            // another name: none of this client's.
            let current = |run: &SpaceRun| fs.snapshot_space_is_current(run);
            match Job::claim(&mut slot, badge, current) {
                Some(job) if job.run.report().name == name => job,
                other => {
                    if let Some(job) = other {
                        slot = Some(job);
                    }
                    self.space_job = slot;
                    return Err(FsError::NoSnapSpaceRun {}.into());
                }
            }
        };
        match fs.snapshot_space_step(&mut job.run, SPACE_STEP_UNITS) {
            Ok(false) => {
                self.space_job = Some(job);
                Ok(Stepped::MORE)
            }
            Ok(true) => {
                let r = fs.snapshot_space_finish(job.run);
                if !r.complete {
                    return Err(FsError::NoSnapSpaceRun {}.into());
                }
                fs.event(format!(
                    "snap space {}: {} bytes exclusive, {} shared",
                    r.name, r.exclusive_bytes, r.shared_bytes
                ));
                Ok(Stepped {
                    text: send_text(out, &space_text(&r))?,
                    done: 1,
                })
            }
            Err(e) => {
                fs.snapshot_space_abandon(job.run);
                Err(e.into())
            }
        }
    }
}

/// `snap space`'s report: one line.
fn space_text(r: &SnapshotSpace) -> String {
    format!(
        "{}: stored {} bytes in {} chunks: exclusive {} bytes ({} chunks), shared {} bytes ({} chunks) with the live tree and {} other snapshots; logical {} bytes\n",
        r.name,
        r.stored_bytes,
        r.chunks,
        r.exclusive_bytes,
        r.exclusive_chunks,
        r.shared_bytes,
        r.shared_chunks,
        r.other_trees.saturating_sub(1),
        r.logical_bytes
    )
}
