//! Snapshots: listed and compared as text (create, restore and remove are
//! one library call each, in `serve.rs`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::ChangeKind;
use fs_api::Text;

use super::{send_text, Out, Outcome, Service};

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

    /// Changes from snapshot `a` to `b` (empty: the live tree).
    pub(super) fn snap_diff(&mut self, a: &str, b: &str, out: &Out<'_>) -> Outcome<Text> {
        let b = (!b.is_empty()).then_some(b);
        let changes = self.reg()?.fs().snapshot_diff(Some(a), b)?;
        let mut text = String::new();
        for c in &changes {
            let k = match c.kind {
                ChangeKind::Added => '+',
                ChangeKind::Removed => '-',
                ChangeKind::Modified => 'M',
            };
            let _ = writeln!(text, "{k} {}", c.path);
        }
        let _ = writeln!(text, "{} changes", changes.len());
        send_text(out, &text)
    }
}
