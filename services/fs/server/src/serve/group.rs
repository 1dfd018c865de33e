//! Group commit in the request loop (the rules are `filesystem::group`'s):
//! what the loop knows of a request before serving it, the look-ahead at
//! its commit (whether the group closes after it: then that commit is
//! durable), and closing a group: one sync (none when nothing is owed),
//! then every held reply (or the sync's error).

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write as _;

use abi::Message;
use filesystem::fs::GroupCloseProbe;
use filesystem::group::{CloseRule, Next};
use fs_api::{FsError, Rights};
use userlib::ipc::{try_recv, Incoming, ReplyToken};

use super::Service;
use crate::errors::Fail;

/// A reply held until its group is durable.
pub type Held = (ReplyToken, Message);

/// The request the look-ahead took off the queue: served next (the fs
/// service is one thread; the lock is never contended).
static PEEKED: spin::Mutex<Option<Incoming>> = spin::Mutex::new(None);

/// What the last request's look-ahead took, if anything.
pub fn take_peeked() -> Option<Incoming> {
    PEEKED.lock().take()
}

/// The look-ahead, asked at a small request's first grouped commit
/// (`Fs::set_group_close_probe`): takes the next request if one is queued
/// (kept for [`take_peeked`]) and answers whether the group closes after
/// this request under `rule`. A notification taken here is handled next;
/// it closes nothing.
///
/// Nothing queued: yield once before deciding. The clients the last group
/// answered are runnable but have not called yet (a call to a receiving
/// server switches to it at once, so the first caller of a new group is
/// served alone while the others wait their turn to run); the yield lets
/// each of them run and queue its next request, and the group takes them
/// all instead of closing after one (four clients: 4.00 replies per
/// group, 0.32 flushes per put, where it was ~1.9 and 0.55). Alone, the
/// yield finds nothing else runnable and returns at once.
pub fn probe(rule: CloseRule) -> GroupCloseProbe {
    Box::new(move || match queued_after_yield() {
        Err(_) => rule.closes(None),
        Ok(incoming) => {
            let closes = match &incoming {
                Incoming::Call { msg, .. } => rule.closes(Some(next_of(msg))),
                Incoming::Notification(_) => false,
            };
            *PEEKED.lock() = Some(incoming);
            closes
        }
    })
}

/// The next queued request, after one yield when none was: see [`probe`].
fn queued_after_yield() -> Result<Incoming, userlib::Error> {
    try_recv(super::DEATH_BIT).or_else(|_| {
        userlib::sys::yield_now();
        try_recv(super::DEATH_BIT)
    })
}

/// What the group rules need of a request, from its message alone:
/// snapshot and admin operations are maintenance (long by nature), and the
/// bytes its leases carry bound the rest.
pub fn next_of(msg: &Message) -> Next {
    let maintenance =
        fs_api::needed(msg.label).is_some_and(|r| r.intersects(Rights::SNAPSHOT | Rights::ADMIN));
    let lease_bytes = msg
        .leases
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.len));
    Next {
        maintenance,
        lease_bytes,
    }
}

impl Service {
    /// Operations of the open group not yet durable (0 when not mounted).
    pub(super) fn owed(&mut self) -> u64 {
        self.reg
            .as_mut()
            .map_or(0, |r| r.fs().unsynced_operations())
    }

    /// Closes the open group: one sync makes all its operations durable,
    /// then every held reply goes out. A failed sync answers each held
    /// call with its error, and the filesystem is mounted again before the
    /// next request (as after the block service's death: what the
    /// undurable operations built in memory may not be on the disk).
    /// Nothing owed (the group's last request committed durably, which
    /// made every batched commit before it durable): no sync, the replies
    /// go out at once.
    pub(super) fn close_group(&mut self) {
        if !self.group.is_open() {
            return;
        }
        if self.reg.is_ok() && self.owed() == 0 {
            for (token, reply) in self.group.close_committed() {
                let _ = token.reply_message(&reply);
            }
            return;
        }
        let synced = match self.reg.as_mut() {
            Ok(reg) => reg.fs().sync().map_err(|e| Fail::from(e).into_api(&[])),
            Err(stage) => Err(FsError::NotMounted { stage: *stage }),
        };
        let held = self.group.close(synced.is_ok());
        match synced {
            Ok(()) => {
                for (token, reply) in held {
                    // A caller that died meanwhile gets nothing; we go on.
                    let _ = token.reply_message(&reply);
                }
            }
            Err(e) => {
                userlib::println!(
                    "fs: a group commit's sync failed ({e}); {} calls answered with it, mounting again",
                    held.len()
                );
                let reply = abi::iface::reply_message::<(), FsError>(&Err(e));
                for (token, _) in held {
                    let _ = token.reply_message(&reply);
                }
                self.remount_due = true;
            }
        }
    }

    /// One line of `stats`: how the group commits went.
    pub(super) fn group_line(&self) -> String {
        let s = self.group.stats();
        let mut line = String::new();
        let _ = writeln!(
            line,
            "group commit: {} groups ({} closed by their last commit), {} replies ({:.2} per group, largest {}), {} failed syncs",
            s.groups,
            s.by_commit,
            s.replies,
            s.replies as f64 / s.groups.max(1) as f64,
            s.largest,
            s.failed_syncs
        );
        line
    }
}
