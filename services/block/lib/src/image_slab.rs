//! [`ImageSlab`]: a bounded set of 4 KiB block images keyed by block
//! number, with CLOCK (second-chance) replacement: the storage of the
//! caches the services keep in front of their block device (the content
//! service's index-node cache, the filesystem's tree-node cache).
//!
//! The slab holds the images and the bookkeeping every such cache needs;
//! the cache decides what an image means. Each slot carries a state of the
//! cache's own ([`SlotState`]) that says two things the slab acts on:
//! - *owed*: the device lacks this image (written by the cache's caller,
//!   not yet sent). The slab keeps the owed blocks in a set, in block
//!   order ([`ImageSlab::owed_blocks`]), so a commit finds them without a
//!   scan of every slot.
//! - *evictable*: CLOCK may take the slot. A cache that sends an owed
//!   image when it evicts it says yes; one that holds them until the end
//!   of a request says no, and sends them itself when no slot is
//!   evictable ([`ImageSlab::victim`] answers `None`).
//!
//! # Invariants
//! - The index maps each held block to its slot, and each slot's block
//!   back: one slot per block, `len() <= capacity()`.
//! - The slots are dense (a dropped slot is filled by the last one) and
//!   the CLOCK hand is inside them.
//! - A block is in the owed set exactly when its slot's state is owed.
//!
//! Every way to change a state goes through the slab, which is what keeps
//! the last invariant. The tests beside it check all three after random
//! operations against a model.
//!
//! # Why hand-written
//! CLOCK over a fixed slab is O(1) amortized, needs no hasher and never
//! grows past its capacity; it is a few dozen lines. The crates made for
//! caches (`lru`, `quick_cache`) bring hashers and growth options this
//! `no_std` code does not need; the owed set in block order is what the
//! caches' commits want, and neither crate keeps one.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Range;

use crate::BLOCK_SIZE;

/// What a cache keeps with each image besides its bytes.
pub trait SlotState {
    /// The device lacks this image: the cache must send it before the
    /// image may be lost.
    fn owed(&self) -> bool;
    /// CLOCK may take this slot for another block.
    fn evictable(&self) -> bool;
}

struct Slot<S> {
    block: u64,
    image: Box<[u8; BLOCK_SIZE]>,
    /// CLOCK's reference bit: set by a hit or an overwrite.
    referenced: bool,
    state: S,
}

/// At most `capacity` block images, each with a [`SlotState`] (see the
/// module doc).
pub struct ImageSlab<S> {
    slots: Vec<Slot<S>>,
    index: BTreeMap<u64, usize>,
    owed: BTreeSet<u64>,
    hand: usize,
    capacity: usize,
}

impl<S: SlotState> ImageSlab<S> {
    /// An empty slab of at most `capacity` images (0: it keeps nothing).
    pub const fn new(capacity: usize) -> Self {
        ImageSlab {
            slots: Vec::new(),
            index: BTreeMap::new(),
            owed: BTreeSet::new(),
            hand: 0,
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Images held now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// No room for another image without evicting one.
    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.capacity
    }

    /// Images whose state is owed.
    pub fn owed_len(&self) -> usize {
        self.owed.len()
    }

    pub fn contains(&self, block: u64) -> bool {
        self.index.contains_key(&block)
    }

    pub fn state(&self, block: u64) -> Option<&S> {
        self.slot(block).map(|s| &s.state)
    }

    /// The image of `block`, as a look that is not a use (CLOCK does not
    /// see it).
    pub fn image(&self, block: u64) -> Option<&[u8; BLOCK_SIZE]> {
        self.slot(block).map(|s| &*s.image)
    }

    /// A hit: the image of `block`, marked used (CLOCK gives it a second
    /// chance).
    pub fn hit(&mut self, block: u64) -> Option<&[u8; BLOCK_SIZE]> {
        let s = self.slot_mut(block)?;
        s.referenced = true;
        Some(&*s.image)
    }

    /// The held images of blocks in `blocks`, in block order.
    pub fn range(&self, blocks: Range<u64>) -> impl Iterator<Item = (u64, &[u8; BLOCK_SIZE])> {
        self.index
            .range(blocks)
            .filter_map(|(&b, &i)| self.slots.get(i).map(|s| (b, &*s.image)))
    }

    /// The owed blocks, in block order.
    pub fn owed_blocks(&self) -> impl Iterator<Item = u64> + '_ {
        self.owed.iter().copied()
    }

    /// Overwrites the image of `block` in its slot, marks it used and lets
    /// `state` change its state. Returns false (and does nothing) if
    /// `block` is not held.
    pub fn overwrite(
        &mut self,
        block: u64,
        image: &[u8; BLOCK_SIZE],
        state: impl FnOnce(&mut S),
    ) -> bool {
        let Some(&i) = self.index.get(&block) else {
            return false;
        };
        let Some(s) = self.slots.get_mut(i) else {
            return false;
        };
        s.image.copy_from_slice(image);
        s.referenced = true;
        state(&mut s.state);
        Self::note_owed(&mut self.owed, s);
        true
    }

    /// Keeps `image` as `block`'s in a free slot. Returns false (and does
    /// nothing) if the slab is full or already holds `block`.
    pub fn push(&mut self, block: u64, image: &[u8; BLOCK_SIZE], state: S) -> bool {
        if self.is_full() || self.contains(block) {
            return false;
        }
        // Copied, not zeroed then copied, and never on the stack.
        let Ok(image) = Box::<[u8; BLOCK_SIZE]>::try_from(image.to_vec().into_boxed_slice()) else {
            return false;
        };
        let slot = Slot {
            block,
            image,
            referenced: false,
            state,
        };
        Self::note_owed(&mut self.owed, &slot);
        self.index.insert(block, self.slots.len());
        self.slots.push(slot);
        true
    }

    /// CLOCK: from the hand on, the first evictable slot not used since
    /// the hand last passed it (every slot the hand passes loses its
    /// reference bit); the hand stops just past it. `None` when no slot is
    /// evictable (then the hand ends where it started).
    pub fn victim(&mut self) -> Option<u64> {
        let n = self.slots.len();
        // Two turns: the first clears every reference bit it passes, so the
        // second stops at the first evictable slot if there is one.
        for _ in 0..2 * n {
            let at = if self.hand < n { self.hand } else { 0 };
            self.hand = (at + 1) % n;
            let s = &mut self.slots[at];
            if s.state.evictable() && !s.referenced {
                return Some(s.block);
            }
            s.referenced = false;
        }
        None
    }

    /// Gives `victim`'s slot (from [`Self::victim`]) to `block`: its image
    /// is lost, owed or not. Returns false (and does nothing) if `victim`
    /// is not held or `block` already is.
    pub fn replace(&mut self, victim: u64, block: u64, image: &[u8; BLOCK_SIZE], state: S) -> bool {
        if self.contains(block) {
            return false;
        }
        let Some(i) = self.index.remove(&victim) else {
            return false;
        };
        self.owed.remove(&victim);
        let s = &mut self.slots[i];
        s.block = block;
        s.image.copy_from_slice(image);
        s.referenced = false;
        s.state = state;
        Self::note_owed(&mut self.owed, s);
        self.index.insert(block, i);
        true
    }

    /// Lets `f` change the image and the state of `block` (not a use).
    /// `None` if `block` is not held.
    pub fn update<R>(
        &mut self,
        block: u64,
        f: impl FnOnce(&mut [u8; BLOCK_SIZE], &mut S) -> R,
    ) -> Option<R> {
        let &i = self.index.get(&block)?;
        let s = self.slots.get_mut(i)?;
        let r = f(&mut s.image, &mut s.state);
        Self::note_owed(&mut self.owed, s);
        Some(r)
    }

    /// Lets `f` change the state of every slot.
    pub fn update_all(&mut self, mut f: impl FnMut(&mut S)) {
        for s in &mut self.slots {
            f(&mut s.state);
            Self::note_owed(&mut self.owed, s);
        }
    }

    /// Drops `block`'s image (owed or not). Returns whether it was held.
    pub fn remove(&mut self, block: u64) -> bool {
        let Some(i) = self.index.remove(&block) else {
            return false;
        };
        self.owed.remove(&block);
        // Keep the slab dense: move the last slot into the hole.
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.block, i);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
        true
    }

    /// Drops the images of the blocks in `blocks`; returns how many.
    pub fn remove_range(&mut self, blocks: Range<u64>) -> usize {
        let gone: Vec<u64> = self.index.range(blocks).map(|(&b, _)| b).collect();
        self.remove_all_of(&gone)
    }

    /// Drops the images whose state `keep` refuses; returns how many.
    pub fn retain(&mut self, mut keep: impl FnMut(&S) -> bool) -> usize {
        let gone: Vec<u64> = self
            .slots
            .iter()
            .filter(|s| !keep(&s.state))
            .map(|s| s.block)
            .collect();
        self.remove_all_of(&gone)
    }

    /// Drops every image; returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.slots.len();
        self.slots.clear();
        self.index.clear();
        self.owed.clear();
        self.hand = 0;
        n
    }

    fn remove_all_of(&mut self, blocks: &[u64]) -> usize {
        blocks.iter().filter(|&&b| self.remove(b)).count()
    }

    fn slot(&self, block: u64) -> Option<&Slot<S>> {
        self.slots.get(*self.index.get(&block)?)
    }

    fn slot_mut(&mut self, block: u64) -> Option<&mut Slot<S>> {
        self.slots.get_mut(*self.index.get(&block)?)
    }

    /// Puts `s`'s block in the owed set or takes it out, as its state says.
    fn note_owed(owed: &mut BTreeSet<u64>, s: &Slot<S>) {
        if s.state.owed() {
            owed.insert(s.block);
        } else {
            owed.remove(&s.block);
        }
    }
}

#[cfg(test)]
#[path = "image_slab_tests.rs"]
mod tests;
