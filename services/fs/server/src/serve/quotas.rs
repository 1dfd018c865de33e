//! Quotas: an administrator sets, lists and removes limits on a
//! repository's or a top-level directory's bytes (the filesystem library
//! keeps them, with their usage, in its tree: `filesystem::quota`).

use alloc::string::String;
use core::fmt::Write as _;

use filesystem::QuotaTarget;
use fs_api::{At, FsError, Text};

use super::blobs::parse_repo;
use super::{send_text, Out, Outcome, Service};

/// Text argument 0 as what a limit applies to.
fn target(repo: bool, name: &str) -> Outcome<QuotaTarget> {
    if repo {
        Ok(QuotaTarget::repo(&parse_repo(name, 0)?)?)
    } else {
        Ok(QuotaTarget::dir(name)?)
    }
}

impl Service {
    pub(super) fn quota_set(&mut self, repo: bool, name: &str, limit: u64) -> Outcome<()> {
        let t = target(repo, name)?;
        let q = self.reg()?.fs().quota_set(&t, limit)?;
        let fs = self.reg()?.fs();
        fs.event(alloc::format!(
            "quota on {} set to {limit} bytes ({} used)",
            q.target,
            q.used
        ));
        Ok(())
    }

    pub(super) fn quota_remove(&mut self, repo: bool, name: &str) -> Outcome<()> {
        let t = target(repo, name)?;
        if !self.reg()?.fs().quota_remove(&t)? {
            return Err(FsError::QuotaNotSet { at: At::arg(0) }.into());
        }
        Ok(())
    }

    /// One line per limit (at most `filesystem::quota::QUOTAS_MAX`):
    /// `dir /top <limit> <used>` or `repo <name> <limit> <used>`.
    pub(super) fn quotas(&mut self, out: &Out<'_>) -> Outcome<Text> {
        let mut text = String::new();
        for q in self.reg()?.fs().quotas()? {
            let _ = match &q.target {
                QuotaTarget::Dir(n) => writeln!(text, "dir /{n} {} {}", q.limit, q.used),
                QuotaTarget::Repo(r) => writeln!(text, "repo {r} {} {}", q.limit, q.used),
            };
        }
        send_text(out, &text)
    }
}
