//! The free-space bitmap: one bit per block, persisted in checksummed
//! bitmap blocks that change only through the journal.
//!
//! # Byte layout of a bitmap block (all integers little-endian)
//! ```text
//! offset size  field
//!  0     4     magic     "BMAP" = 0x5041_4D42
//!  4     4     checksum  CRC-32C of the whole block with this field zeroed
//!  8     8     index     position of this block in the bitmap (0..bitmap_blocks)
//! 16     4080  bits      510 little-endian u64 words; bit k of word w is
//!                        block index*32640 + w*64 + k; 1 = allocated
//! ```
//! Bitmap block `i` lives at `bitmap_start + i`.
//!
//! # Invariants
//! - Every block below `data_start` (superblocks, bitmap, journal, roots) is
//!   allocated; bits for blocks at or past `block_count` are zero.
//! - A block is allocated on disk iff some upper-layer structure (or the
//!   block layer itself) owns it once the journal is replayed; changes reach
//!   the bitmap's home blocks only through the journal, in the same
//!   transaction as the structures that use the blocks, so a crash never
//!   leaks nor double-allocates.
//! - A freed block is "reserved" in memory until a checkpoint has made the
//!   free durable and emptied the journal; only then is it handed out again
//!   (so neither an old journal image nor a reader of the last durable state
//!   can see it reused).

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use zerocopy::little_endian::U64;
use zerocopy::FromBytes;

use crate::error::{Corruption, Error};
use crate::table_block::{self, OFF_PAYLOAD};
use crate::{Extent, BLOCK_SIZE};

pub const MAGIC: u32 = u32::from_le_bytes(*b"BMAP");
/// The header is `table_block`'s.
const OFF_BITS: usize = OFF_PAYLOAD;
/// u64 words of bits per bitmap block.
pub const WORDS_PER_BLOCK: usize = (BLOCK_SIZE - OFF_BITS) / 8;
/// Blocks described by one bitmap block.
pub const BITS_PER_BLOCK: u64 = WORDS_PER_BLOCK as u64 * 64;
const _: () = assert!(OFF_BITS + WORDS_PER_BLOCK * 8 == BLOCK_SIZE);

/// Bitmap blocks needed for a store of `block_count` blocks.
pub const fn bitmap_blocks_for(block_count: u64) -> u64 {
    block_count.div_ceil(BITS_PER_BLOCK)
}

/// Encodes bitmap block `index` from its words.
pub fn encode_block(index: u64, words: &[u64]) -> [u8; BLOCK_SIZE] {
    let mut b = table_block::new_block(MAGIC, index);
    if let Ok(slots) = <[U64]>::mut_from_bytes(&mut b[OFF_BITS..]) {
        for (slot, word) in slots.iter_mut().zip(words) {
            *slot = (*word).into();
        }
    }
    table_block::seal(&mut b);
    b
}

/// Decodes and checks bitmap block `index` read from device block `block`.
pub fn decode_block(block: u64, index: u64, bytes: &[u8]) -> Result<Vec<u64>, Error> {
    table_block::check(block, bytes, MAGIC, index, "bitmap index")?;
    // `check` found the block whole: its payload is WORDS_PER_BLOCK words.
    let words = bytes
        .get(OFF_BITS..)
        .and_then(|bits| <[U64]>::ref_from_bytes(bits).ok())
        .unwrap_or(&[]);
    Ok(words.iter().map(|w| w.get()).collect())
}

/// The in-memory allocator: the bitmap of the committed state plus the open
/// transaction's changes, and the reserved (freed, not yet reusable) blocks.
///
/// # Invariants
/// - `allocated` and `reserved` hold `bitmap_blocks * WORDS_PER_BLOCK` words.
/// - A reserved block is not allocated.
#[derive(Clone)]
pub struct Allocator {
    block_count: u64,
    data_start: u64,
    allocated: Vec<u64>,
    reserved: Vec<u64>,
    /// Bitmap blocks changed since `take_dirty`.
    dirty: BTreeSet<u64>,
    /// Where the next search starts (next fit: keeps allocations sequential).
    cursor: u64,
    free: u64,
}

impl Allocator {
    /// A fresh bitmap: everything below `data_start` allocated.
    pub fn formatted(block_count: u64, data_start: u64) -> Self {
        let words = bitmap_blocks_for(block_count) as usize * WORDS_PER_BLOCK;
        let mut a = Allocator {
            block_count,
            data_start,
            allocated: vec![0; words],
            reserved: vec![0; words],
            dirty: BTreeSet::new(),
            cursor: data_start,
            free: block_count,
        };
        a.set(Extent::new(0, data_start), true);
        a
    }

    /// An allocator over words decoded from disk; checks the invariants
    /// against the geometry and reports the first violation.
    pub fn from_words(
        block_count: u64,
        data_start: u64,
        bitmap_start: u64,
        allocated: Vec<u64>,
    ) -> Result<Self, Error> {
        let words = bitmap_blocks_for(block_count) as usize * WORDS_PER_BLOCK;
        if allocated.len() != words {
            return Err(Error::Corrupt {
                block: bitmap_start,
                detail: Corruption::Field {
                    name: "bitmap length",
                    value: allocated.len() as u64,
                },
            });
        }
        let mut a = Allocator {
            block_count,
            data_start,
            reserved: vec![0; words],
            allocated,
            dirty: BTreeSet::new(),
            cursor: data_start,
            free: 0,
        };
        for b in 0..data_start {
            if !a.is_allocated(b) {
                return Err(Error::Corrupt {
                    block: bitmap_start + b / BITS_PER_BLOCK,
                    detail: Corruption::Field {
                        name: "metadata block marked free",
                        value: b,
                    },
                });
            }
        }
        for b in block_count..words as u64 * 64 {
            if a.is_allocated(b) {
                return Err(Error::Corrupt {
                    block: bitmap_start + b / BITS_PER_BLOCK,
                    detail: Corruption::Field {
                        name: "bit past the end set",
                        value: b,
                    },
                });
            }
        }
        let used: u64 = a.allocated.iter().map(|w| u64::from(w.count_ones())).sum();
        a.free = block_count - used;
        Ok(a)
    }

    pub fn block_count(&self) -> u64 {
        self.block_count
    }
    pub fn free_blocks(&self) -> u64 {
        self.free
    }
    pub fn words(&self) -> &[u64] {
        &self.allocated
    }
    /// Words of bitmap block `index`.
    pub fn block_words(&self, index: u64) -> &[u64] {
        let at = index as usize * WORDS_PER_BLOCK;
        &self.allocated[at..at + WORDS_PER_BLOCK]
    }

    pub fn is_allocated(&self, block: u64) -> bool {
        bit(&self.allocated, block)
    }

    /// Marks `extent` allocated (or free) and its bitmap blocks dirty.
    pub fn set(&mut self, extent: Extent, allocated: bool) {
        for b in extent.start..extent.end() {
            if bit(&self.allocated, b) != allocated {
                flip(&mut self.allocated, b);
                if allocated {
                    self.free -= 1;
                } else {
                    self.free += 1;
                }
            }
        }
        if extent.len > 0 {
            for i in extent.start / BITS_PER_BLOCK..=(extent.end() - 1) / BITS_PER_BLOCK {
                self.dirty.insert(i);
            }
        }
    }

    /// Marks `extent` (free) as not to be handed out until `release`.
    pub fn reserve(&mut self, extent: Extent, reserved: bool) {
        for b in extent.start..extent.end() {
            if bit(&self.reserved, b) != reserved {
                flip(&mut self.reserved, b);
            }
        }
    }

    /// Makes every reserved block allocatable again.
    pub fn release_all_reserved(&mut self) {
        self.reserved.iter_mut().for_each(|w| *w = 0);
    }

    /// Bitmap blocks changed since the last call.
    pub fn take_dirty(&mut self) -> BTreeSet<u64> {
        core::mem::take(&mut self.dirty)
    }

    /// Finds `count` consecutive blocks that are neither allocated nor
    /// reserved, searching from the cursor and wrapping once. Does not mark them.
    pub fn find_free_run(&mut self, count: u64) -> Option<Extent> {
        if count == 0 || count > self.block_count - self.data_start {
            return None;
        }
        let cursor = self.cursor.clamp(self.data_start, self.block_count);
        let found = self.search(cursor, self.block_count, count).or_else(|| {
            self.search(
                self.data_start,
                cursor.saturating_add(count).min(self.block_count),
                count,
            )
        });
        if let Some(e) = found {
            self.cursor = e.end();
        }
        found
    }

    fn busy(&self, b: u64) -> bool {
        bit(&self.allocated, b) || bit(&self.reserved, b)
    }

    fn search(&self, from: u64, to: u64, count: u64) -> Option<Extent> {
        let mut b = from;
        let mut run_start = from;
        while b < to {
            let w = (b / 64) as usize;
            if b.is_multiple_of(64) && (self.allocated[w] | self.reserved[w]) == u64::MAX {
                b += 64;
                run_start = b;
                continue;
            }
            if self.busy(b) {
                run_start = b + 1;
            } else if b + 1 - run_start == count {
                return Some(Extent::new(run_start, count));
            }
            b += 1;
        }
        None
    }

    /// Runs of allocated blocks, in block order.
    pub fn allocated_runs(&self) -> Vec<Extent> {
        let mut runs: Vec<Extent> = Vec::new();
        for b in 0..self.block_count {
            if self.is_allocated(b) {
                match runs.last_mut() {
                    Some(r) if r.end() == b => r.len += 1,
                    _ => runs.push(Extent::new(b, 1)),
                }
            }
        }
        runs
    }
}

fn bit(words: &[u64], block: u64) -> bool {
    words
        .get((block / 64) as usize)
        .is_some_and(|w| w >> (block % 64) & 1 == 1)
}
fn flip(words: &mut [u64], block: u64) {
    if let Some(w) = words.get_mut((block / 64) as usize) {
        *w ^= 1 << (block % 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn block_round_trip_and_checks() {
        let words: Vec<u64> = (0..WORDS_PER_BLOCK as u64)
            .map(|i| i * 0x9E37_79B9)
            .collect();
        let b = encode_block(3, &words);
        assert_eq!(decode_block(10, 3, &b).unwrap(), words);
        assert!(matches!(
            decode_block(10, 4, &b),
            Err(Error::Corrupt {
                block: 10,
                detail: Corruption::Field { value: 3, .. }
            })
        ));
        let mut bad = b;
        bad[100] ^= 4;
        assert!(matches!(
            decode_block(10, 3, &bad),
            Err(Error::Corrupt {
                block: 10,
                detail: Corruption::Checksum { .. }
            })
        ));
    }

    #[test]
    fn formatted_marks_metadata_and_loads_back() {
        let a = Allocator::formatted(40_000, 100);
        assert_eq!(a.free_blocks(), 40_000 - 100);
        assert!(a.is_allocated(99) && !a.is_allocated(100));
        let back = Allocator::from_words(40_000, 100, 2, a.words().to_vec()).unwrap();
        assert_eq!(back.free_blocks(), a.free_blocks());
        let mut words = a.words().to_vec();
        words[0] &= !1;
        assert!(Allocator::from_words(40_000, 100, 2, words).is_err());
        let mut words = a.words().to_vec();
        *words.last_mut().unwrap() |= 1 << 63;
        assert!(Allocator::from_words(40_000, 100, 2, words).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000), index in 0u64..4) {
            let _ = decode_block(0, index, &bytes);
        }

        /// Against a model (a Vec<bool>): runs handed out are free, never
        /// overlap, reserved blocks are never handed out, and a request fails
        /// only when no such run exists.
        #[test]
        fn allocator_matches_model(ops in proptest::collection::vec((0u8..4, 1u64..40, any::<u64>()), 1..200)) {
            const N: u64 = 700;
            const START: u64 = 20;
            let mut a = Allocator::formatted(N, START);
            let mut model: Vec<u8> = (0..N).map(|b| if b < START { 1 } else { 0 }).collect(); // 0 free, 1 used, 2 reserved
            let mut live: Vec<Extent> = Vec::new();
            for (op, len, pick) in ops {
                match op {
                    0 | 1 => {
                        let longest = {
                            let (mut best, mut cur) = (0u64, 0u64);
                            for &m in &model { if m == 0 { cur += 1; best = best.max(cur) } else { cur = 0 } }
                            best
                        };
                        match a.find_free_run(len) {
                            Some(e) => {
                                prop_assert_eq!(e.len, len);
                                for b in e.start..e.end() { prop_assert_eq!(model[b as usize], 0); model[b as usize] = 1; }
                                a.set(e, true);
                                live.push(e);
                            }
                            None => prop_assert!(longest < len, "no run of {} found but model has {}", len, longest),
                        }
                    }
                    2 if !live.is_empty() => {
                        let e = live.swap_remove((pick % live.len() as u64) as usize);
                        a.set(e, false);
                        a.reserve(e, true);
                        for b in e.start..e.end() { model[b as usize] = 2; }
                    }
                    _ => {
                        a.release_all_reserved();
                        for m in model.iter_mut() { if *m == 2 { *m = 0 } }
                    }
                }
                let free = model.iter().filter(|&&m| m != 1).count() as u64;
                prop_assert_eq!(a.free_blocks(), free);
            }
            for b in 0..N { prop_assert_eq!(a.is_allocated(b), model[b as usize] == 1); }
        }
    }
}
