//! Death notices: whom the kernel tells when a process ends, and the bounded
//! queue each process keeps them in (`DEATH_WATCH`, `DEATH_NEXT`).
//!
//! The rule (kernel/SYSCALLS.md, "Death and restart"): when a process ends,
//! every server it held an endpoint capability to (from the boot
//! configuration, a reply, or a session badge the server minted and handed
//! out), or had a call open at, is told the badge of each such capability,
//! once per badge, if it asked with `DEATH_WATCH`. Every process that
//! supervises it (`supervise=`) is told its slot. A badge is what the server
//! keys its per-client state by, so the notice names exactly the state to
//! drop.
//!
//! Design principles:
//! - Bounded: at most `abi::DEATH_QUEUE` notices wait per process; more are
//!   counted as lost (the server then treats every client as suspect) and
//!   never allocate.
//! - Duplicates collapse: ten capabilities with one badge are one notice.

use crate::caps::{Cap, CapTable, Pid};
use abi::{death_kind, DEATH_QUEUE};

/// One notice: `kind` is `abi::death_kind`, `value` a badge or a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: u64,
    pub value: u64,
}

/// A process's waiting notices, oldest first.
#[derive(Clone, Debug)]
pub struct DeathQueue {
    notices: [Notice; DEATH_QUEUE],
    len: usize,
    /// Notices dropped because the queue was full, since the last `pop`.
    lost: u64,
}

impl Default for DeathQueue {
    fn default() -> Self {
        DeathQueue {
            notices: [Notice { kind: 0, value: 0 }; DEATH_QUEUE],
            len: 0,
            lost: 0,
        }
    }
}

impl DeathQueue {
    /// Queues `n` unless an equal notice waits already; false if it was
    /// lost (queue full).
    pub fn push(&mut self, n: Notice) -> bool {
        if self.notices[..self.len].contains(&n) {
            return true;
        }
        if self.len == DEATH_QUEUE {
            self.lost = self.lost.saturating_add(1);
            return false;
        }
        self.notices[self.len] = n;
        self.len += 1;
        true
    }

    /// The oldest notice and how many were lost before it was taken; the
    /// lost count is reported once.
    pub fn pop(&mut self) -> Option<(Notice, u64)> {
        if self.len == 0 {
            return None;
        }
        let n = self.notices[0];
        self.notices.copy_within(1..self.len, 0);
        self.len -= 1;
        let lost = core::mem::take(&mut self.lost);
        Some((n, lost))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The (server, badge) pairs a dead process's table and open call name:
/// whom to tell that it died. `open_call` is the server and badge of the
/// call it was blocked in, if any. Its own endpoints (to itself) are
/// skipped; pairs repeat (the queue collapses them).
pub fn client_notices(
    dead: Pid,
    caps: &CapTable,
    open_call: Option<(Pid, u64)>,
) -> impl Iterator<Item = (Pid, Notice)> + '_ {
    caps.iter()
        .filter_map(|cap| match cap {
            Cap::Endpoint { server, badge } => Some((server, badge)),
            Cap::Notification { .. } => None,
        })
        .chain(open_call)
        .filter(move |&(server, _)| server != dead)
        .map(|(server, badge)| {
            (
                server,
                Notice {
                    kind: death_kind::CLIENT,
                    value: badge,
                },
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(value: u64) -> Notice {
        Notice {
            kind: death_kind::CLIENT,
            value,
        }
    }

    #[test]
    fn notices_come_out_in_order_once_each() {
        let mut q = DeathQueue::default();
        assert!(q.push(client(7)));
        assert!(q.push(client(9)));
        assert!(q.push(client(7)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some((client(7), 0)));
        assert_eq!(q.pop(), Some((client(9), 0)));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_counts_what_it_loses_and_reports_it_once() {
        let mut q = DeathQueue::default();
        for b in 0..DEATH_QUEUE as u64 {
            assert!(q.push(client(b)));
        }
        assert!(!q.push(client(1000)));
        assert!(!q.push(client(1001)));
        assert_eq!(q.pop(), Some((client(0), 2)));
        assert_eq!(q.pop(), Some((client(1), 0)));
        // Room again.
        assert!(q.push(client(1000)));
        assert_eq!(q.len(), DEATH_QUEUE - 1);
    }

    #[test]
    fn a_watched_process_and_a_client_badge_are_different_notices() {
        let mut q = DeathQueue::default();
        q.push(client(3));
        q.push(Notice {
            kind: death_kind::WATCHED,
            value: 3,
        });
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn the_servers_of_every_endpoint_and_the_open_call_are_told_each_badge() {
        let mut t = CapTable::default();
        let dead = 4;
        t.insert(Cap::Endpoint {
            server: 1,
            badge: 7,
        })
        .unwrap();
        t.insert(Cap::Notification { target: 2, bits: 1 }).unwrap();
        t.insert(Cap::Endpoint {
            server: 2,
            badge: 9,
        })
        .unwrap();
        // A session endpoint minted to itself names nobody else.
        t.insert(Cap::Endpoint {
            server: dead,
            badge: 1,
        })
        .unwrap();
        let told: Vec<(Pid, Notice)> = client_notices(dead, &t, Some((3, 5))).collect();
        assert_eq!(told, vec![(1, client(7)), (2, client(9)), (3, client(5))]);
        let none: Vec<(Pid, Notice)> = client_notices(dead, &CapTable::default(), None).collect();
        assert!(none.is_empty());
    }
}
