//! Snapshots: listed and compared as text (create, restore and remove are
//! one library call each, in `serve.rs`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::Change;
use fs_api::{FsError, Text};

use super::{send_text, Out, Outcome, Service};

/// Changes the service holds for one `snap diff` page.
pub const DIFF_PAGE: usize = 256;

impl Service {
    pub(super) fn snap_list(&mut self, out: &Out<'_>) -> Outcome<Text> {
        let mut text = String::new();
        for s in self.reg()?.fs().snapshot_list()? {
            let _ = writeln!(
                text,
                "{} logical {} bytes, exclusive {} bytes, shared {} bytes (taken at time {})",
                s.name, s.logical_bytes, s.exclusive_bytes, s.shared_bytes, s.created
            );
        }
        send_text(out, &text)
    }

    /// A page of the changes from snapshot `a` to `b` (empty: the live
    /// tree) after line `after` (empty: from the start): whole lines as
    /// `out` holds, at most [`DIFF_PAGE`] of them.
    pub(super) fn snap_diff(
        &mut self,
        a: &str,
        b: &str,
        after: &str,
        out: &Out<'_>,
    ) -> Outcome<Text> {
        let b = (!b.is_empty()).then_some(b);
        let after = match after {
            "" => None,
            line => Some(Change::parse_line(line).ok_or(FsError::BadArguments {})?),
        };
        let page = self
            .reg()?
            .fs()
            .snapshot_diff_page(Some(a), b, after.as_ref(), DIFF_PAGE)?;
        let room = out.len();
        let mut text = String::new();
        let mut needed = 0u64;
        for c in &page.changes {
            let line = c.line();
            let len = line.len() as u64 + 1;
            if needed == text.len() as u64 && needed + len <= room {
                text.push_str(&line);
                text.push('\n');
            }
            needed += len;
        }
        if page.more {
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
}
