//! Capability tables: what a process may name. A process refers to an
//! endpoint or a notification only by a slot number in its own table; the
//! kernel looks the slot up, so a process cannot forge a capability or a
//! badge, and a slot it was never given is an error.
//!
//! A capability a client sends with a call lands in the server's table only
//! for that call: the kernel drops it when the server replies (or when the
//! client dies) unless the server keeps it (`CAP_KEEP`), and a server keeps
//! at most `KEPT_PER_CLIENT` from any one client. So clients flooding a
//! server with capabilities cannot fill its table: each has at most one call
//! outstanding, hence at most one capability in flight, plus what the server
//! chose to keep.
//!
//! # Invariants
//! - Only the kernel writes tables: from the boot configuration, on a
//!   transfer in a message (copy), by `CAP_MINT` (a capability to the caller
//!   itself), by `CAP_DROP` and by `CAP_KEEP`.
//! - `origin[i]` describes `slots[i]` (it is `Own` for an empty slot).

use abi::CAP_SLOTS;

/// Process identifier: an index into the kernel's process table.
pub type Pid = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// May `CALL` process `server`; the server receives `badge` with each call.
    Endpoint { server: Pid, badge: u64 },
    /// May `NOTIFY` process `target`, setting `bits` in its pending set.
    Notification { target: Pid, bits: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// The slot number is not below `CAP_SLOTS`.
    OutOfRange(u64),
    /// Nothing in the slot.
    Empty(u64),
    /// The slot holds a capability of another kind.
    WrongKind(u64),
    /// No free slot, or the sending client's share of kept slots is used up.
    Full,
    /// `CAP_KEEP` on a slot that did not arrive with a call still open.
    NotReceived(u64),
}

/// How many capabilities received from one client a server may keep.
pub const KEPT_PER_CLIENT: usize = 8;

/// Where a slot's capability came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The boot configuration, `CAP_MINT`, a reply, or kept: the holder's own.
    Own,
    /// Sent by `from` with its call number `seq`; dropped at the reply.
    InCall { from: Pid, seq: u64 },
    /// Sent by `from` and kept; counts against `from`'s share.
    Kept { from: Pid },
}

#[derive(Clone, Debug)]
pub struct CapTable {
    slots: [Option<Cap>; CAP_SLOTS],
    origin: [Origin; CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        CapTable {
            slots: [None; CAP_SLOTS],
            origin: [Origin::Own; CAP_SLOTS],
        }
    }
}

impl CapTable {
    fn index(slot: u64) -> Result<usize, CapError> {
        if slot < CAP_SLOTS as u64 {
            Ok(slot as usize)
        } else {
            Err(CapError::OutOfRange(slot))
        }
    }

    pub fn get(&self, slot: u64) -> Result<Cap, CapError> {
        self.slots[Self::index(slot)?].ok_or(CapError::Empty(slot))
    }

    /// The endpoint in `slot`: (server, badge).
    pub fn endpoint(&self, slot: u64) -> Result<(Pid, u64), CapError> {
        match self.get(slot)? {
            Cap::Endpoint { server, badge } => Ok((server, badge)),
            Cap::Notification { .. } => Err(CapError::WrongKind(slot)),
        }
    }

    /// The notification in `slot`: (target, bits).
    pub fn notification(&self, slot: u64) -> Result<(Pid, u64), CapError> {
        match self.get(slot)? {
            Cap::Notification { target, bits } => Ok((target, bits)),
            Cap::Endpoint { .. } => Err(CapError::WrongKind(slot)),
        }
    }

    /// Puts `cap` in the lowest free slot and returns the slot.
    pub fn insert(&mut self, cap: Cap) -> Result<u64, CapError> {
        let i = self
            .slots
            .iter()
            .position(|s| s.is_none())
            .ok_or(CapError::Full)?;
        self.slots[i] = Some(cap);
        Ok(i as u64)
    }

    pub fn remove(&mut self, slot: u64) -> Result<Cap, CapError> {
        let i = Self::index(slot)?;
        let cap = self.slots[i].take().ok_or(CapError::Empty(slot))?;
        self.origin[i] = Origin::Own;
        Ok(cap)
    }

    /// Puts `cap`, sent by client `from` with its call `seq`, in the lowest
    /// free slot, for the duration of that call.
    pub fn insert_received(&mut self, cap: Cap, from: Pid, seq: u64) -> Result<u64, CapError> {
        let slot = self.insert(cap)?;
        self.origin[slot as usize] = Origin::InCall { from, seq };
        Ok(slot)
    }

    /// The reply to `from`'s call `seq` went out (or the call ended): its
    /// capability, if the holder neither kept nor dropped it, goes.
    pub fn release_call(&mut self, from: Pid, seq: u64) {
        for i in 0..CAP_SLOTS {
            if self.origin[i] == (Origin::InCall { from, seq }) {
                self.slots[i] = None;
                self.origin[i] = Origin::Own;
            }
        }
    }

    /// Client `from` died: the capability of its open call goes (kept ones
    /// stay: the holder chose them).
    pub fn release_client(&mut self, from: Pid) {
        for i in 0..CAP_SLOTS {
            if matches!(self.origin[i], Origin::InCall { from: f, .. } if f == from) {
                self.slots[i] = None;
                self.origin[i] = Origin::Own;
            }
        }
    }

    /// Client `from` was restarted: what its dead incarnation sent and the
    /// server kept stays the server's, but no longer counts against the
    /// new incarnation's share.
    pub fn forget_client(&mut self, from: Pid) {
        for o in self.origin.iter_mut() {
            if *o == (Origin::Kept { from }) {
                *o = Origin::Own;
            }
        }
    }

    /// Every capability in the table, lowest slot first.
    pub fn iter(&self) -> impl Iterator<Item = Cap> + '_ {
        self.slots.iter().filter_map(|s| *s)
    }

    /// Keeps the capability in `slot`, received with a call still open,
    /// beyond the reply. `Full` when its sender's share is used up.
    pub fn keep(&mut self, slot: u64) -> Result<(), CapError> {
        let i = Self::index(slot)?;
        self.slots[i].ok_or(CapError::Empty(slot))?;
        let Origin::InCall { from, .. } = self.origin[i] else {
            return Err(CapError::NotReceived(slot));
        };
        let kept = self
            .origin
            .iter()
            .filter(|o| **o == Origin::Kept { from })
            .count();
        if kept >= KEPT_PER_CLIENT {
            return Err(CapError::Full);
        }
        self.origin[i] = Origin::Kept { from };
        Ok(())
    }
}

impl From<CapError> for abi::Error {
    fn from(e: CapError) -> abi::Error {
        match e {
            CapError::Full => abi::Error::CapTableFull,
            _ => abi::Error::BadCap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: Cap = Cap::Endpoint {
        server: 9,
        badge: 1,
    };

    #[test]
    fn flood_of_received_caps_never_fills_the_table() {
        // Before: every transferred capability stayed, and 64 calls filled it.
        let mut t = CapTable::default();
        let own = t.insert(EP).unwrap();
        for seq in 1..10_000u64 {
            let slot = t.insert_received(EP, 5, seq).unwrap();
            assert_eq!(slot, 1);
            t.release_call(5, seq);
        }
        assert_eq!(t.get(own), Ok(EP));
        assert_eq!(t.get(1), Err(CapError::Empty(1)));
    }

    #[test]
    fn release_is_for_that_call_only() {
        let mut t = CapTable::default();
        let a = t.insert_received(EP, 5, 1).unwrap();
        let b = t.insert_received(EP, 6, 1).unwrap();
        t.release_call(5, 2); // a later call number of the same client
        t.release_call(7, 1); // another client
        assert!(t.get(a).is_ok() && t.get(b).is_ok());
        t.release_call(5, 1);
        assert_eq!(t.get(a), Err(CapError::Empty(a)));
        t.release_client(6);
        assert_eq!(t.get(b), Err(CapError::Empty(b)));
    }

    #[test]
    fn kept_caps_survive_the_reply_up_to_a_share_per_client() {
        let mut t = CapTable::default();
        for seq in 0..KEPT_PER_CLIENT as u64 {
            let s = t.insert_received(EP, 5, seq).unwrap();
            assert_eq!(t.keep(s), Ok(()));
            t.release_call(5, seq);
            t.release_client(5);
            assert_eq!(t.get(s), Ok(EP));
        }
        let extra = t.insert_received(EP, 5, 99).unwrap();
        assert_eq!(t.keep(extra), Err(CapError::Full));
        // Another client's share is its own.
        let other = t.insert_received(EP, 6, 1).unwrap();
        assert_eq!(t.keep(other), Ok(()));
        // Dropping a kept one frees a share.
        t.remove(0).unwrap();
        assert_eq!(t.keep(extra), Ok(()));
    }

    #[test]
    fn a_restarted_client_starts_with_a_fresh_share() {
        let mut t = CapTable::default();
        for seq in 0..KEPT_PER_CLIENT as u64 {
            let s = t.insert_received(EP, 5, seq).unwrap();
            t.keep(s).unwrap();
        }
        let extra = t.insert_received(EP, 5, 99).unwrap();
        assert_eq!(t.keep(extra), Err(CapError::Full));
        t.forget_client(5);
        assert_eq!(t.keep(extra), Ok(()));
        // What the dead incarnation sent stays the holder's.
        assert_eq!(t.iter().count(), KEPT_PER_CLIENT + 1);
    }

    #[test]
    fn only_caps_of_open_calls_can_be_kept() {
        let mut t = CapTable::default();
        let own = t.insert(EP).unwrap();
        assert_eq!(t.keep(own), Err(CapError::NotReceived(own)));
        assert_eq!(t.keep(5), Err(CapError::Empty(5)));
        assert_eq!(t.keep(CAP_SLOTS as u64), Err(CapError::OutOfRange(64)));
        let r = t.insert_received(EP, 3, 1).unwrap();
        t.keep(r).unwrap();
        assert_eq!(t.keep(r), Err(CapError::NotReceived(r)));
        // A slot reused after a drop is the holder's own again.
        t.remove(r).unwrap();
        assert_eq!(t.insert(EP), Ok(r));
        t.release_call(3, 1);
        assert_eq!(t.get(r), Ok(EP));
    }

    #[test]
    fn slots_are_checked_by_range_presence_and_kind() {
        let mut t = CapTable::default();
        let ep = t
            .insert(Cap::Endpoint {
                server: 3,
                badge: 77,
            })
            .unwrap();
        let nt = t
            .insert(Cap::Notification {
                target: 4,
                bits: 0b100,
            })
            .unwrap();
        assert_eq!((ep, nt), (0, 1));
        assert_eq!(t.endpoint(ep), Ok((3, 77)));
        assert_eq!(t.endpoint(nt), Err(CapError::WrongKind(1)));
        assert_eq!(t.notification(nt), Ok((4, 0b100)));
        assert_eq!(t.endpoint(2), Err(CapError::Empty(2)));
        assert_eq!(
            t.endpoint(CAP_SLOTS as u64),
            Err(CapError::OutOfRange(CAP_SLOTS as u64))
        );
        assert_eq!(t.endpoint(u64::MAX), Err(CapError::OutOfRange(u64::MAX)));
        assert_eq!(abi::Error::from(CapError::Empty(2)), abi::Error::BadCap);
    }

    #[test]
    fn table_fills_up_and_removed_slots_are_reused() {
        let mut t = CapTable::default();
        for i in 0..CAP_SLOTS as u64 {
            assert_eq!(
                t.insert(Cap::Endpoint {
                    server: 1,
                    badge: i
                }),
                Ok(i)
            );
        }
        assert_eq!(
            t.insert(Cap::Endpoint {
                server: 1,
                badge: 0
            }),
            Err(CapError::Full)
        );
        assert_eq!(
            t.remove(5),
            Ok(Cap::Endpoint {
                server: 1,
                badge: 5
            })
        );
        assert_eq!(t.remove(5), Err(CapError::Empty(5)));
        assert_eq!(
            t.insert(Cap::Endpoint {
                server: 2,
                badge: 9
            }),
            Ok(5)
        );
    }
}
