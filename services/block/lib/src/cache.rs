//! The bounded write-back block cache.
//!
//! Clean blocks are evicted in least-recently-used order. Dirty blocks (a
//! committed transaction's images not yet at home, each under the
//! sequence number of the journal transaction that holds it: for the
//! running compound's, the number it will be written with) are never
//! evicted here: only `BlockStore::write_home` writes them, once their
//! journal transaction is durable, and then marks them clean. The running
//! compound encodes its images from here when it closes (`dirty_image`). The store checkpoints when dirty blocks
//! crowd the cache, so the cache stays within its bound between operations.
//!
//! # Invariants
//! - `lru` holds exactly one tick per entry and `dirty_count` counts entries
//!   with `dirty = Some(_)`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

struct Entry {
    data: Box<[u8]>,
    /// Sequence number of the commit that wrote this image, while not at home.
    dirty: Option<u64>,
    tick: u64,
}

pub struct Cache {
    capacity: usize,
    entries: BTreeMap<u64, Entry>,
    /// tick -> block, oldest first.
    lru: BTreeMap<u64, u64>,
    tick: u64,
    dirty_count: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Cache {
            capacity,
            entries: BTreeMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            dirty_count: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn dirty_count(&self) -> usize {
        self.dirty_count
    }

    fn touch(&mut self, block: u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.entries.get_mut(&block) {
            self.lru.remove(&e.tick);
            e.tick = tick;
            self.lru.insert(tick, block);
        }
    }

    /// The cached image of `block`, counting a hit or a miss.
    pub fn get(&mut self, block: u64) -> Option<&[u8]> {
        if self.entries.contains_key(&block) {
            self.hits += 1;
            self.touch(block);
            self.entries.get(&block).map(|e| &e.data[..])
        } else {
            self.misses += 1;
            None
        }
    }

    /// The image of `block` when it is dirty under commit `seq` (a look
    /// that is not a use: no hit counted, no LRU move). The running
    /// compound encodes its images from here when it closes.
    pub fn dirty_image(&self, block: u64, seq: u64) -> Option<&[u8]> {
        self.entries
            .get(&block)
            .filter(|e| e.dirty == Some(seq))
            .map(|e| &e.data[..])
    }

    fn put(&mut self, block: u64, data: &[u8], dirty: Option<u64>) {
        match self.entries.get_mut(&block) {
            Some(e) => {
                e.data.copy_from_slice(data);
                if e.dirty.is_none() && dirty.is_some() {
                    self.dirty_count += 1;
                }
                if e.dirty.is_some() && dirty.is_none() {
                    self.dirty_count -= 1;
                }
                e.dirty = dirty;
            }
            None => {
                self.entries.insert(
                    block,
                    Entry {
                        data: data.into(),
                        dirty,
                        tick: 0,
                    },
                );
                if dirty.is_some() {
                    self.dirty_count += 1;
                }
            }
        }
        self.touch(block);
    }

    /// Caches a block read from its home location (never replaces a dirty
    /// image, which is newer than home).
    pub fn insert_clean(&mut self, block: u64, data: &[u8]) {
        if self.entries.get(&block).is_some_and(|e| e.dirty.is_some()) {
            return;
        }
        self.put(block, data, None);
        self.evict_clean();
    }

    /// Caches the image committed by transaction `seq`, not yet at home.
    /// Takes the transaction's own buffer: no copy of the image. Answers
    /// the buffer of the image it replaced, if any (for reuse).
    pub fn insert_dirty(&mut self, block: u64, data: Box<[u8]>, seq: u64) -> Option<Box<[u8]>> {
        let old = match self.entries.get_mut(&block) {
            Some(e) => {
                let old = core::mem::replace(&mut e.data, data);
                if e.dirty.is_none() {
                    self.dirty_count += 1;
                }
                e.dirty = Some(seq);
                Some(old)
            }
            None => {
                self.entries.insert(
                    block,
                    Entry {
                        data,
                        dirty: Some(seq),
                        tick: 0,
                    },
                );
                self.dirty_count += 1;
                None
            }
        };
        self.touch(block);
        old
    }

    /// Forgets `block` (its home was overwritten directly). Must not be dirty.
    pub fn remove(&mut self, block: u64) {
        if let Some(e) = self.entries.remove(&block) {
            self.lru.remove(&e.tick);
            if e.dirty.is_some() {
                self.dirty_count -= 1;
            }
        }
    }

    /// Dirty blocks whose commit sequence is at most `durable`, in block order.
    pub fn dirty_through(&self, durable: u64) -> Vec<(u64, &[u8])> {
        self.entries
            .iter()
            .filter(|(_, e)| e.dirty.is_some_and(|s| s <= durable))
            .map(|(b, e)| (*b, &e.data[..]))
            .collect()
    }

    pub fn mark_clean(&mut self, block: u64) {
        if let Some(e) = self.entries.get_mut(&block) {
            if e.dirty.take().is_some() {
                self.dirty_count -= 1;
            }
        }
    }

    /// Evicts clean blocks, oldest first, until within capacity (or only
    /// dirty blocks are left).
    pub fn evict_clean(&mut self) {
        if self.entries.len() <= self.capacity {
            return;
        }
        let mut victims = Vec::new();
        let mut excess = self.entries.len() - self.capacity;
        for (_, block) in self.lru.iter() {
            if excess == 0 {
                break;
            }
            if self.entries.get(block).is_some_and(|e| e.dirty.is_none()) {
                victims.push(*block);
                excess -= 1;
            }
        }
        for block in victims {
            self.remove(block);
            self.evictions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn lru_evicts_oldest_clean_and_keeps_dirty() {
        let mut c = Cache::new(2);
        let b = vec![1u8; 8];
        c.insert_dirty(1, b.clone().into_boxed_slice(), 5);
        c.insert_clean(2, &b);
        c.insert_clean(3, &b); // over capacity: 2 is the oldest clean
        assert!(c.get(2).is_none());
        assert!(c.get(1).is_some() && c.get(3).is_some());
        assert_eq!((c.hits, c.misses, c.evictions), (2, 1, 1));
        // A clean read of a dirty block does not replace the newer image.
        c.insert_clean(1, &[9u8; 8]);
        assert_eq!(c.get(1).unwrap()[0], 1);
        assert_eq!(c.dirty_through(4).len(), 0);
        assert_eq!(c.dirty_through(5).len(), 1);
        c.mark_clean(1);
        assert_eq!(c.dirty_count(), 0);
    }
}
