//! Capability tables: what a process may name. A process refers to an
//! endpoint or a notification only by a slot number in its own table; the
//! kernel looks the slot up, so a process cannot forge a capability or a
//! badge, and a slot it was never given is an error.
//!
//! # Invariants
//! - Only the kernel writes tables: from the boot configuration, on a
//!   transfer in a message (copy), by `CAP_MINT` (a capability to the caller
//!   itself) and by `CAP_DROP`.

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
    /// No free slot.
    Full,
}

#[derive(Clone, Debug)]
pub struct CapTable {
    slots: [Option<Cap>; CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        CapTable {
            slots: [None; CAP_SLOTS],
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
        self.slots[i].take().ok_or(CapError::Empty(slot))
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
