//! Snapshots: listed and compared as text, a page per request (create,
//! restore and remove are one library call each, in `serve.rs`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::DiffCursor;
use fs_api::{DiffText, FsError, Text};

use super::{Out, Outcome, Service};

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
                "{} logical {} bytes, exclusive {} bytes, shared {} bytes (taken at time {})",
                s.name, s.logical_bytes, s.exclusive_bytes, s.shared_bytes, s.created
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
}
