//! [`Probe`]: one key looked up in a node image already verified, with
//! the entries located in a stack array instead of an allocated index
//! (issue #13). The byte layout is the parent module's.
//!
//! [`NodeView::parse_verified`](super::NodeView::parse_verified) allocates
//! an index of a node's entries on every step of a walk, to binary-search
//! one key: the allocator's first-fit walks cost more than the search. A
//! probe walks the entries with the same bounds checks and the same
//! [`NodeDecodeError`]s (so a lying cache still cannot make it panic),
//! keeps where each key starts in a `u16` array on the stack (2.7 KiB,
//! the most entries a node holds; left uninitialised past the entries), binary-searches it, and keeps only the
//! place of the key. A forward scan that stops at the first key at or
//! above the searched one was tried first: it reads half the entries but
//! compares each key, and keys here share long prefixes (a tag, then a
//! big-endian inode number) while the services' `memcmp` is a byte loop.
//! An image that was not verified goes through
//! [`NodeView::parse`](super::NodeView::parse) first (checksum, key order,
//! zero tail).

use core::mem::MaybeUninit;

use super::view::{entry_overhead, patch_child, splice_leaf, Header, Span};
use super::{NodeDecodeError, CAPACITY, HEADER_LEN, LEAF_ENTRY_OVERHEAD, MAX_VALUE_LEN, NODE_SIZE};

/// Most entries a node can hold: the smallest entry is a leaf's with an
/// empty key and value.
const MAX_ENTRIES: usize = CAPACITY / LEAF_ENTRY_OVERHEAD;

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
    /// as `NodeView::parse_verified` does (same errors); never panics.
    pub fn verified(block: u64, bytes: &'a [u8], key: &[u8]) -> Result<Self, NodeDecodeError> {
        let Header {
            image,
            generation,
            level,
            count,
            used,
        } = Header::parse(block, bytes, false)?;
        let end = HEADER_LEN + used;
        let leaf = level == 0;
        let overhead = entry_overhead(level);
        // Where each key starts, on the stack: a verified node's keys are
        // in order, so a binary search over them finds the key's place
        // with a few compares (`memcmp` is a byte loop in the services).
        // Not zeroed: filling 2.7 KiB per step cost more than the search.
        let mut keys = [const { MaybeUninit::<u16>::uninit() }; MAX_ENTRIES];
        let mut at = HEADER_LEN;
        for index in 0..count {
            let overrun = NodeDecodeError::EntryOverrun { index, offset: at };
            let key_at = at + overhead;
            if key_at > end {
                // The entry's head (lengths, child) runs past `used`.
                return Err(overrun);
            }
            let key_len = usize::from(image[at]);
            let value_len = if leaf {
                usize::from(u16::from_le_bytes([image[at + 1], image[at + 2]]))
            } else {
                0
            };
            if value_len > MAX_VALUE_LEN {
                return Err(NodeDecodeError::ValueTooLong {
                    index,
                    len: value_len,
                });
            }
            at = key_at + key_len + value_len;
            if at > end {
                return Err(overrun);
            }
            if !leaf && index == 0 && key_len != 0 {
                return Err(NodeDecodeError::FirstBranchKeyNotEmpty { len: key_len });
            }
            // Never out of range: an entry takes at least `overhead` bytes.
            keys.get_mut(index).ok_or(overrun)?.write(key_at as u16);
        }
        let key_start = |i: usize| {
            debug_assert!(i < count);
            // Safety: the loop above wrote `keys[i]` for every `i < count`
            // (it returns an error otherwise), and every caller below asks
            // for an `i < count`.
            unsafe { keys[i].assume_init() }
        };
        if at != end {
            return Err(NodeDecodeError::CountMismatch {
                count,
                used,
                consumed: at - HEADER_LEN,
            });
        }
        let span = |i: usize| {
            let key_at = key_start(i);
            let head = usize::from(key_at) - overhead;
            Span {
                key_at,
                key_len: image[head],
                value_len: if leaf {
                    u16::from_le_bytes([image[head + 1], image[head + 2]])
                } else {
                    0
                },
            }
        };
        let key_of = |s: Span| {
            let at = usize::from(s.key_at);
            &image[at..at + usize::from(s.key_len)]
        };
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key_of(span(mid)) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let last = lo.checked_sub(1).map(span);
        let exact = last.is_some_and(|s| key_of(s) == key);
        let next = if lo < count {
            usize::from(key_start(lo)) - overhead
        } else {
            end
        };
        Ok(Probe {
            image,
            generation,
            level,
            count,
            used,
            below: lo,
            last,
            exact,
            next,
        })
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

    /// The key of entry `below()`, the first above the key probed for:
    /// in a branch, the exclusive upper bound of the child's key range
    /// within this node (`None`: the child is the last, bounded by this
    /// node's own range).
    pub fn next_key(&self) -> Option<&'a [u8]> {
        if self.below >= self.count {
            return None;
        }
        let len = usize::from(*self.image.get(self.next)?);
        Some(self.bytes(self.next + entry_overhead(self.level), len))
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
        let mut out = [0u8; NODE_SIZE];
        self.leaf_with_into(&mut out, key, value, generation)
            .then_some(out)
    }

    /// [`Probe::leaf_with`] written into `out` (every byte of it), so the
    /// caller's buffer, not a new array, holds the image; `false` when it
    /// would not fit (or this is a branch), `out` then unchanged.
    pub fn leaf_with_into(
        &self,
        out: &mut [u8; NODE_SIZE],
        key: &[u8],
        value: &[u8],
        generation: u64,
    ) -> bool {
        if !self.is_leaf() {
            return false;
        }
        let start = match self.last.filter(|_| self.exact) {
            Some(s) => match usize::from(s.key_at).checked_sub(LEAF_ENTRY_OVERHEAD) {
                Some(start) => start,
                None => return false,
            },
            None => self.next,
        };
        splice_leaf(
            out,
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
        let mut out = [0u8; NODE_SIZE];
        self.branch_with_child_into(&mut out, child, generation);
        out
    }

    /// [`Probe::branch_with_child`] written into `out` (every byte of it).
    pub fn branch_with_child_into(&self, out: &mut [u8; NODE_SIZE], child: u64, generation: u64) {
        let at = self
            .last
            .filter(|_| !self.is_leaf())
            .and_then(|s| usize::from(s.key_at).checked_sub(8));
        patch_child(
            out, self.image, at, child, generation, self.count, self.used,
        );
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
