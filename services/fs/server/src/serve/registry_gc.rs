//! `RegistryGc`: the registry's garbage collection with the caller's grace
//! period, the service's idle-upload limit and the wall-clock time.

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::registry_gc::DEFAULT_UPLOAD_MAX_IDLE_SECS;
use filesystem::RegistryGcOptions;
use fs_api::{FsError, Text};

use super::{send_text, Out, Outcome, Service};

impl Service {
    pub(super) fn registry_gc(
        &mut self,
        dry_run: bool,
        grace_secs: u64,
        out: &Out<'_>,
    ) -> Outcome<Text> {
        let now = userlib::sys::unix_time().ok_or(FsError::NoClock {})?;
        let r = self.reg()?.registry_gc(&RegistryGcOptions {
            dry_run,
            delete_untagged: true,
            now,
            grace_secs,
            upload_max_idle_secs: DEFAULT_UPLOAD_MAX_IDLE_SECS,
        })?;
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
        send_text(out, &text)
    }
}
