//! Group commit: several clients' operations share one durable commit and
//! its flushes, as jbd2 and every database with a write-ahead log do.
//!
//! The fs service serves one request at a time. With group commit on
//! ([`crate::Fs::set_group_commit`]) an operation that would commit
//! `Durable` commits `Batched` instead (still its own transaction: all or
//! nothing on its own) and is counted as owing a sync
//! ([`crate::Fs::unsynced_operations`]). Its reply is held in a [`Group`];
//! the server goes on taking queued requests without blocking, and when the
//! group closes one `sync` (flush the fresh data, write the journal records,
//! flush) makes every operation of the group durable, then every held reply
//! is sent. A sync that fails answers every held request with its error.
//!
//! # The last request's commit closes the group
//! Just before a small request's first grouped commit the server looks one
//! request ahead (a non-blocking receive from the commit's probe,
//! [`crate::Fs::set_group_close_probe`]; what it takes is served next).
//! When the group will close right after this request
//! ([`Group::closes_after`]: nothing else is queued, or rules 2-3 below),
//! its own commit is `Durable` instead of
//! `Batched` plus a `sync` call after it: the block store's durable commit
//! writes every journal record not yet written, its own and the batched
//! commits' before it, and flushes (`sync_journal`, as `sync` does), so
//! when it returns every operation of the group is durable,
//! [`crate::Fs::unsynced_operations`] is 0, and the held replies go out
//! with no sync (one call fewer per group, the same flushes; issue #13).
//! A request that arrives after the probe joins the next group, as one
//! arriving during a sync did. Only the request's first grouped commit is made durable (a request of
//! several transactions costs at most one flush more than before; a small
//! put makes one). If that commit fails, the operations owed before it
//! are still owed: the group closes with a sync as before, and if that
//! fails too every held request is answered with its error.
//!
//! # The guarantee, unchanged
//! A successful reply leaves the server only when what it reports is
//! durable: while a group is open *every* reply is held, also those of
//! reads and failed calls, because they may have seen the group's
//! undurable state (a read of a blob another client just put, a "blob
//! exists" refusal). A reply is sent at once only when nothing is owed.
//!
//! # When a group closes ([`Group::close_before`], [`Group::is_full`])
//! 1. Nothing more is queued: waiting would only delay the held clients.
//! 2. [`Limits::max_held`] replies are held: bounds the latency of the
//!    first one and the journal records buffered (a batched commit past the
//!    block service's group bound is written early, costing a flush).
//! 3. The next request is long (maintenance, or its leases carry more than
//!    [`Limits::small_bytes`]): it is served after the group is durable, so
//!    a long request never holds the small ones' replies for its duration.
//! 4. The block service died: the sync fails and every held request gets
//!    the error; the server then mounts again (its remount logic).

use alloc::vec::Vec;

/// Bounds of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Replies held at most before the group closes.
    pub max_held: usize,
    /// A request whose leases carry more bytes than this is long.
    pub small_bytes: u64,
}

impl Default for Limits {
    /// 16 replies: 16 small puts journal ~160 blocks, under the block
    /// service's group bound (256). 64 KiB: small puts, manifests and
    /// names pass; an upload piece (1 MiB) or a large read buffer does not
    /// (closing a group early is always safe, it costs only a sync).
    fn default() -> Limits {
        Limits {
            max_held: 16,
            small_bytes: 64 * 1024,
        }
    }
}

/// What the server knows of the next request before serving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next {
    /// Maintenance (fsck, gc, snapshots, shutdown, ...): long by nature.
    pub maintenance: bool,
    /// Bytes its leases carry (in and out).
    pub lease_bytes: u64,
}

/// Whether the group closes after a small request, given what is queued
/// behind it ([`Group::close_rule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseRule {
    fills: bool,
    small_bytes: u64,
}

impl CloseRule {
    /// `next`: the request queued behind (`None`: nothing, rule 1).
    pub fn closes(self, next: Option<Next>) -> bool {
        match next {
            None => true,
            // Rule 3: the next one closes the group before it is served.
            Some(next) => self.fills || next.maintenance || next.lease_bytes > self.small_bytes,
        }
    }
}

/// Counters of the groups closed so far (for `stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Groups closed (each with at most one sync).
    pub groups: u64,
    /// Of those, groups made durable by their last request's own durable
    /// commit: closed with no sync.
    pub by_commit: u64,
    /// Replies sent from groups.
    pub replies: u64,
    /// Syncs that failed (their groups answered with the error).
    pub failed_syncs: u64,
    /// Largest group seen.
    pub largest: u64,
}

/// The held replies of one open group (`R`: a reply token and its message
/// in the server; anything in tests).
///
/// # Invariants
/// - At most `limits.max_held` replies are held (the server closes the
///   group when [`Group::is_full`]).
/// - The group is open exactly while a reply is held.
pub struct Group<R> {
    held: Vec<R>,
    limits: Limits,
    stats: GroupStats,
}

impl<R> Group<R> {
    pub fn new(limits: Limits) -> Group<R> {
        Group {
            held: Vec::with_capacity(limits.max_held),
            limits: Limits {
                max_held: limits.max_held.max(1),
                ..limits
            },
            stats: GroupStats::default(),
        }
    }

    pub fn is_open(&self) -> bool {
        !self.held.is_empty()
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn stats(&self) -> GroupStats {
        self.stats
    }

    /// Whether the open group must close before `next` is served (rule 3).
    pub fn close_before(&self, next: Next) -> bool {
        self.is_open() && self.is_long(next)
    }

    /// After a request was served: `Some(reply)` to send now (nothing is
    /// owed and no group is open), or `None`: held until the group closes.
    /// `owed`: operations committed since the last sync that were promised
    /// durable.
    pub fn after(&mut self, reply: R, owed: u64) -> Option<R> {
        if owed == 0 && !self.is_open() {
            return Some(reply);
        }
        self.held.push(reply);
        None
    }

    /// Whether the group must close now (rule 2).
    pub fn is_full(&self) -> bool {
        self.held.len() >= self.limits.max_held
    }

    /// Whether the group closes right after request `this` is served, `next`
    /// being what is queued behind it (`None`: nothing), and `this` is
    /// small: then its commit may be durable and close the group without a
    /// sync (see the module doc). A long request's commits stay batched: it
    /// may make many (an upload piece by piece), and only its first would
    /// be durable.
    pub fn closes_after(&self, this: Next, next: Option<Next>) -> bool {
        self.close_rule(this).is_some_and(|rule| rule.closes(next))
    }

    /// [`Group::closes_after`] for request `this` as a value of its own,
    /// to decide once `next` is known (at `this`'s commit: the fs
    /// service's probe); `None`: `this` is long, its commits stay batched.
    pub fn close_rule(&self, this: Next) -> Option<CloseRule> {
        if self.is_long(this) {
            return None;
        }
        Some(CloseRule {
            // Rule 2: this request's reply (if owed) fills the group.
            fills: self.held.len() + 1 >= self.limits.max_held,
            small_bytes: self.limits.small_bytes,
        })
    }

    fn is_long(&self, next: Next) -> bool {
        next.maintenance || next.lease_bytes > self.limits.small_bytes
    }

    /// Closes the group: the held replies, in arrival order, to send once
    /// `synced` (whether the sync succeeded) is known.
    pub fn close(&mut self, synced: bool) -> Vec<R> {
        self.close_counted(synced, false)
    }

    /// Closes a group its last request's durable commit made durable
    /// (nothing owed: no sync): the held replies, to send now.
    pub fn close_committed(&mut self) -> Vec<R> {
        self.close_counted(true, true)
    }

    fn close_counted(&mut self, synced: bool, by_commit: bool) -> Vec<R> {
        let held = core::mem::replace(&mut self.held, Vec::with_capacity(self.limits.max_held));
        if !held.is_empty() {
            self.stats.groups += 1;
            if by_commit {
                self.stats.by_commit += 1;
            }
            self.stats.replies += held.len() as u64;
            self.stats.largest = self.stats.largest.max(held.len() as u64);
            if !synced {
                self.stats.failed_syncs += 1;
            }
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Next = Next {
        maintenance: false,
        lease_bytes: 4096,
    };

    #[test]
    fn nothing_owed_and_no_group_sends_at_once() {
        let mut g = Group::new(Limits::default());
        assert_eq!(g.after(1, 0), Some(1));
        assert!(!g.is_open());
    }

    #[test]
    fn an_owed_reply_opens_the_group_and_later_replies_join_it() {
        let mut g = Group::new(Limits::default());
        assert_eq!(g.after(1, 1), None);
        // A read served while the group is open may have seen its state.
        assert_eq!(g.after(2, 0), None);
        assert_eq!(g.held(), 2);
        assert_eq!(g.close(true), vec![1, 2]);
        assert!(!g.is_open());
        assert_eq!(g.after(3, 0), Some(3));
        let s = g.stats();
        assert_eq!(
            (s.groups, s.replies, s.largest, s.failed_syncs),
            (1, 2, 2, 0)
        );
    }

    #[test]
    fn the_group_is_full_at_its_bound() {
        let mut g = Group::new(Limits {
            max_held: 3,
            small_bytes: 1,
        });
        for i in 0..3 {
            assert!(!g.is_full());
            assert_eq!(g.after(i, 1), None);
        }
        assert!(g.is_full());
        assert_eq!(g.close(false).len(), 3);
        assert_eq!(g.stats().failed_syncs, 1);
    }

    #[test]
    fn a_long_request_closes_an_open_group_first() {
        let mut g = Group::new(Limits::default());
        let big = Next {
            maintenance: false,
            lease_bytes: 1 << 20,
        };
        let fsck = Next {
            maintenance: true,
            lease_bytes: 0,
        };
        assert!(!g.close_before(big), "no group open: nothing to close");
        g.after(0, 1);
        assert!(!g.close_before(SMALL));
        assert!(g.close_before(big));
        assert!(g.close_before(fsck));
    }

    #[test]
    fn the_group_closes_after_a_small_request_with_nothing_queued_behind_it() {
        let mut g = Group::new(Limits {
            max_held: 3,
            small_bytes: 64 * 1024,
        });
        let big = Next {
            maintenance: false,
            lease_bytes: 1 << 20,
        };
        let gc = Next {
            maintenance: true,
            lease_bytes: 0,
        };
        // Rule 1: nothing queued.
        assert!(g.closes_after(SMALL, None));
        assert!(!g.closes_after(SMALL, Some(SMALL)));
        // Rule 3: a long request is next.
        assert!(g.closes_after(SMALL, Some(big)));
        assert!(g.closes_after(SMALL, Some(gc)));
        // A long request's own commits stay batched.
        assert!(!g.closes_after(big, None));
        assert!(!g.closes_after(gc, None));
        assert_eq!(g.close_rule(big), None);
        // Rule 2: this request's reply fills the group.
        g.after(0, 1);
        assert!(!g.closes_after(SMALL, Some(SMALL)));
        g.after(1, 2);
        assert!(g.closes_after(SMALL, Some(SMALL)));
    }

    #[test]
    fn a_group_closed_by_a_commit_counts_as_a_group_without_a_sync() {
        let mut g = Group::new(Limits::default());
        g.after(1, 1);
        g.after(2, 0);
        assert_eq!(g.close_committed(), vec![1, 2]);
        assert!(g.close_committed().is_empty());
        let s = g.stats();
        assert_eq!(
            (s.groups, s.by_commit, s.replies, s.failed_syncs),
            (1, 1, 2, 0)
        );
    }

    #[test]
    fn closing_an_empty_group_counts_nothing() {
        let mut g: Group<u8> = Group::new(Limits::default());
        assert!(g.close(true).is_empty());
        assert_eq!(g.stats(), GroupStats::default());
    }
}
