//! [`Probe`]: one key looked up in a node image already verified, by one
//! forward scan that stops at the first key at or above it, without an
//! index of the entries (issue #13). The byte layout is the parent
//! module's.
//!
//! [`NodeView::parse_verified`](super::NodeView::parse_verified) walks all
//! entries of a node and allocates an index of them per step of a walk,
//! to binary-search one key. A node verified when a cache kept it has its
//! keys in order, so the first key not below the searched one is where a
//! lookup or an insert lands: entries past it need not be read. Every
//! entry the scan reads is bounds-checked as `parse_verified` checks it
//! (same [`NodeDecodeError`]s), so a lying cache still cannot make it
//! panic. An image that was not verified goes through
//! [`NodeView::parse`](super::NodeView::parse) first (checksum, key order,
//! zero tail).

use super::view::{splice_leaf, stamp, Header, Reader, Span};
use super::{NodeDecodeError, LEAF_ENTRY_OVERHEAD, MAX_VALUE_LEN, NODE_SIZE};

/// Where one key falls in a verified node.
pub struct Probe<'a> {
    image: &'a [u8; NODE_SIZE],
    pub generation: u64,
    pub level: u8,
    count: usize,
    used: usize,
    /// Entries whose key is at or below the key probed for.
    below: usize,
    /// Entry `below - 1`, the last one at or below the key.
    last: Option<Span>,
    /// Whether `last`'s key is the key probed for.
    exact: bool,
    /// Where entry `below` starts (the end of the entries if none).
    next: usize,
}

impl<'a> Probe<'a> {
    /// Looks `key` up in an image that [`super::NodeView::parse`] already
    /// verified as the node at `block`. Checks the header and every entry
    /// it reads as `NodeView::parse_verified` does; never panics.
    pub fn verified(block: u64, bytes: &'a [u8], key: &[u8]) -> Result<Self, NodeDecodeError> {
        let Header {
            image,
            generation,
            level,
            count,
            used,
        } = Header::parse(block, bytes, false)?;
        let end = super::HEADER_LEN + used;
        let area = image
            .get(..end)
            .ok_or(NodeDecodeError::UsedTooLarge { used })?;
        let mut r = Reader {
            bytes: area,
            at: super::HEADER_LEN,
        };
        let leaf = level == 0;
        let mut probe = Probe {
            image,
            generation,
            level,
            count,
            used,
            below: 0,
            last: None,
            exact: false,
            next: end,
        };
        for index in 0..count {
            let offset = r.at;
            let overrun = NodeDecodeError::EntryOverrun { index, offset };
            let key_len = r.u8().ok_or(overrun.clone())?;
            let value_len = if leaf {
                let len = u16::from_le_bytes(r.array::<2>().ok_or(overrun.clone())?);
                if usize::from(len) > MAX_VALUE_LEN {
                    return Err(NodeDecodeError::ValueTooLong {
                        index,
                        len: usize::from(len),
                    });
                }
                len
            } else {
                r.array::<8>().ok_or(overrun.clone())?;
                0
            };
            let key_at = r.at as u16;
            let entry_key = r.take(usize::from(key_len)).ok_or(overrun.clone())?;
            r.take(usize::from(value_len)).ok_or(overrun)?;
            if !leaf && index == 0 && !entry_key.is_empty() {
                return Err(NodeDecodeError::FirstBranchKeyNotEmpty {
                    len: usize::from(key_len),
                });
            }
            match entry_key.cmp(key) {
                core::cmp::Ordering::Greater => {
                    probe.next = offset;
                    return Ok(probe);
                }
                order => {
                    probe.below = index + 1;
                    probe.last = Some(Span {
                        key_at,
                        key_len,
                        value_len,
                    });
                    if order == core::cmp::Ordering::Equal {
                        // Keys are strictly increasing: the rest are above.
                        probe.exact = true;
                        probe.next = r.at;
                        return Ok(probe);
                    }
                }
            }
        }
        if r.at != end {
            return Err(NodeDecodeError::CountMismatch {
                count,
                used,
                consumed: r.at - super::HEADER_LEN,
            });
        }
        Ok(probe)
    }

    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    /// Number of entries whose key is at or below the key probed for:
    /// [`super::NodeView::count_at_or_below`].
    pub fn below(&self) -> usize {
        self.below
    }

    /// Number of entries of the node.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn bytes(&self, at: usize, len: usize) -> &'a [u8] {
        // Spans were bounds-checked by the scan.
        self.image.get(at..at + len).unwrap_or_default()
    }

    /// The value stored under the key, in a leaf that has it.
    pub fn found(&self) -> Option<&'a [u8]> {
        let s = self.last.filter(|_| self.exact && self.is_leaf())?;
        Some(self.bytes(
            usize::from(s.key_at) + usize::from(s.key_len),
            usize::from(s.value_len),
        ))
    }

    /// Entry `below() - 1`'s child in a branch: the subtree whose key range
    /// holds the key (a verified branch's first key is empty, so there is
    /// one).
    pub fn child(&self) -> Option<u64> {
        let s = self.last.filter(|_| !self.is_leaf())?;
        let at = usize::from(s.key_at).checked_sub(8)?;
        Some(u64::from_le_bytes(
            self.bytes(at, 8).try_into().unwrap_or_default(),
        ))
    }

    /// This leaf's image with the key probed for set to `value` (replacing
    /// its entry if [`Probe::found`], else inserted in order), stamped with
    /// `generation`, to be [`super::seal`]ed; `None` when it would not fit
    /// (or this is a branch). What [`super::NodeView::leaf_with`] makes at
    /// the same place. `key` is the key probed for.
    pub fn leaf_with(&self, key: &[u8], value: &[u8], generation: u64) -> Option<[u8; NODE_SIZE]> {
        if !self.is_leaf() {
            return None;
        }
        let start = match self.last.filter(|_| self.exact) {
            Some(s) => usize::from(s.key_at).checked_sub(LEAF_ENTRY_OVERHEAD)?,
            None => self.next,
        };
        splice_leaf(
            self.image,
            self.count,
            self.used,
            start..self.next,
            key,
            value,
            generation,
        )
    }

    /// This branch's image with the child of entry `below() - 1` pointing
    /// at `child`, stamped with `generation`, to be [`super::seal`]ed:
    /// [`super::NodeView::branch_with_child`] of that entry.
    pub fn branch_with_child(&self, child: u64, generation: u64) -> [u8; NODE_SIZE] {
        let mut out = *self.image;
        if let Some(s) = self.last.filter(|_| !self.is_leaf()) {
            if let Some(at) = usize::from(s.key_at).checked_sub(8) {
                out[at..at + 8].copy_from_slice(&child.to_le_bytes());
            }
        }
        stamp(&mut out, generation, self.count, self.used);
        out
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
