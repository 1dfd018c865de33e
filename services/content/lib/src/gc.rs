//! Garbage-collection primitives: marks, epochs, and the sweep.
//!
//! The owner (the filesystem) runs a collection as:
//! 1. [`ContentStore::begin_gc`] in a transaction (persist the root with it):
//!    starts a new epoch. Every chunk put, or put again (dedup), from now on
//!    carries the new epoch and is kept by this collection whether marked or
//!    not: an upload running during GC never loses its chunks, even ones it
//!    shares with deleted data.
//! 2. [`ContentStore::mark`] every chunk reference still held (live tree,
//!    snapshots, uploads in progress — pinning is the owner's job) into a
//!    [`ChunkMarks`] (one bit per block of the store, keyed by the chunk's
//!    first block).
//! 3. [`ContentStore::sweep_step`] repeatedly, each in its own transaction
//!    with the owner's roots, until [`Sweep::is_done`]: every chunk that is
//!    unmarked and older than the epoch is removed from the index and its
//!    extent freed.
//!
//! A dry run ([`Sweep::dry_run`]) goes through the same scan and reports
//! what would be freed without changing anything (no writes at all).
//!
//! # Crash safety
//! Each step is one transaction of the caller: a crash leaves the store as
//! after the last committed step (index, extents and counters agree, since
//! all three change together). The sweep's position is in memory only; after
//! a crash the owner starts a new collection.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{Transactional, BLOCK_SIZE};

use crate::chunk_ref::ChunkRef;
use crate::content_root::ContentRoot;
use crate::error::{GcError, GetError};
use crate::index_entry::IndexEntry;
use crate::store::ContentStore;

/// One bit per block of the store: memory is `block_count / 8` bytes
/// (32 MiB for a 1 TiB store).
#[derive(Clone, Debug)]
pub struct ChunkMarks {
    bits: Vec<u64>,
    block_count: u64,
}

impl ChunkMarks {
    pub fn new(block_count: u64) -> Self {
        ChunkMarks {
            bits: vec![0; block_count.div_ceil(64) as usize],
            block_count,
        }
    }

    /// Blocks the marks cover.
    pub fn block_count(&self) -> u64 {
        self.block_count
    }

    /// Marks `block`; returns false if it was marked already (or is past
    /// the end, which marks nothing).
    pub fn mark_block(&mut self, block: u64) -> bool {
        if block >= self.block_count {
            return false;
        }
        let (word, bit) = ((block / 64) as usize, block % 64);
        let Some(w) = self.bits.get_mut(word) else {
            return false;
        };
        let was = *w & (1 << bit) != 0;
        *w |= 1 << bit;
        !was
    }

    pub fn is_marked(&self, block: u64) -> bool {
        let (word, bit) = ((block / 64) as usize, block % 64);
        block < self.block_count && self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Number of marked blocks.
    pub fn count(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// The epoch a collection started in; chunks of this epoch or later are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcEpoch(pub u64);

/// What a sweep freed (or, in a dry run, would free).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Index entries looked at.
    pub scanned: u64,
    /// Chunks removed (would be removed).
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their blocks.
    pub blocks: u64,
}

impl SweepReport {
    /// Device bytes freed (would be freed).
    pub fn physical_bytes(&self) -> u64 {
        self.blocks.saturating_mul(BLOCK_SIZE as u64)
    }
}

/// A sweep in progress: where it is and what it freed so far.
#[derive(Clone, Debug)]
pub struct Sweep {
    epoch: u64,
    dry_run: bool,
    resume_after: Option<[u8; 32]>,
    done: bool,
    pub report: SweepReport,
}

impl Sweep {
    /// A sweep for the collection that began at `epoch`.
    pub fn new(epoch: GcEpoch) -> Self {
        Sweep {
            epoch: epoch.0,
            dry_run: false,
            resume_after: None,
            done: false,
            report: SweepReport::default(),
        }
    }

    /// A dry run: reports every unmarked chunk stored so far, changes nothing.
    pub fn dry_run(store: &ContentStore) -> Self {
        Sweep {
            epoch: store.root.epoch.saturating_add(1),
            dry_run: true,
            resume_after: None,
            done: false,
            report: SweepReport::default(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl ContentStore {
    /// Starts a collection: a new epoch. Call inside a transaction and
    /// persist the root with it.
    pub fn begin_gc(&mut self) -> Result<GcEpoch, GcError> {
        self.root.epoch = self
            .root
            .epoch
            .checked_add(1)
            .ok_or(GcError::EpochOverflow)?;
        Ok(GcEpoch(self.root.epoch))
    }

    /// Pins the index for its owner's block GC, which walks it in pages
    /// while chunks are put and swept: a copy-on-write snapshot of the
    /// index root (`cowbtree::snapshot`). The returned store reads the
    /// index as it is now; from now on this store copies every node they
    /// share before changing it and frees none of them, so the pinned
    /// nodes stay as they are until the owner's block GC finds them
    /// unreachable. Call inside a transaction and persist the root with
    /// it (the generations move). The pin itself lives in the returned
    /// value only: dropping it is the unpin.
    pub fn pin_index(&mut self) -> Result<ContentStore, GcError> {
        let index = cowbtree::snapshot(&mut self.root.index)?;
        Ok(ContentStore {
            root: ContentRoot { index, ..self.root },
        })
    }

    /// Marks the chunk `chunk` as still referenced. A reference to a chunk
    /// that is not stored is an error (the owner's fsck should hear of it).
    pub fn mark<T: Transactional>(
        &self,
        tx: &mut T,
        chunk: &ChunkRef,
        marks: &mut ChunkMarks,
    ) -> Result<(), GetError> {
        let entry = self
            .lookup(tx, &chunk.hash)?
            .ok_or(GetError::NotFound { hash: chunk.hash })?;
        marks.mark_block(entry.start);
        Ok(())
    }

    /// One step of `sweep`: looks at up to `max_scan` index entries after
    /// the previous step's last one and removes (in a dry run: counts) those
    /// not marked and older than the sweep's epoch. Run it inside a
    /// transaction and persist the root with it; the step's size bounds the
    /// transaction's size.
    pub fn sweep_step<T: Transactional>(
        &mut self,
        tx: &mut T,
        marks: &ChunkMarks,
        sweep: &mut Sweep,
        max_scan: usize,
    ) -> Result<(), GcError> {
        if marks.block_count() != tx.block_count() {
            return Err(GcError::MarksWrongSize {
                marks_blocks: marks.block_count(),
                store_blocks: tx.block_count(),
            });
        }
        if sweep.done {
            return Ok(());
        }
        let mut victims: Vec<([u8; 32], IndexEntry)> = Vec::new();
        let mut scanned = 0usize;
        {
            let start = match &sweep.resume_after {
                Some(k) => Bound::Excluded(k.as_slice()),
                None => Bound::Unbounded,
            };
            let mut cursor = cowbtree::range(tx, self.index(), start, Bound::Unbounded)?;
            while scanned < max_scan.max(1) {
                let Some((key, value)) = cursor.next_entry()? else {
                    sweep.done = true;
                    break;
                };
                scanned += 1;
                let hash: [u8; 32] =
                    key.as_slice()
                        .try_into()
                        .map_err(|_| GcError::CorruptIndex {
                            key_len: key.len(),
                            problem: None,
                        })?;
                let entry = IndexEntry::decode(&value).map_err(|p| GcError::CorruptIndex {
                    key_len: key.len(),
                    problem: Some(p),
                })?;
                sweep.resume_after = Some(hash);
                if !marks.is_marked(entry.start) && entry.epoch < sweep.epoch {
                    victims.push((hash, entry));
                }
            }
        }
        sweep.report.scanned += scanned as u64;
        for (hash, entry) in victims {
            if !sweep.dry_run {
                cowbtree::remove(tx, &mut self.root.index, &hash)?;
                tx.free(entry.extent())?;
                self.root.chunks = self.root.chunks.saturating_sub(1);
                self.root.chunk_bytes = self.root.chunk_bytes.saturating_sub(u64::from(entry.len));
                self.root.data_blocks = self.root.data_blocks.saturating_sub(entry.blocks());
            }
            sweep.report.chunks += 1;
            sweep.report.bytes += u64::from(entry.len);
            sweep.report.blocks += entry.blocks();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_set_test_and_count() {
        let mut m = ChunkMarks::new(130);
        assert!(m.mark_block(0));
        assert!(m.mark_block(129));
        assert!(!m.mark_block(129));
        assert!(!m.mark_block(130), "past the end marks nothing");
        assert!(m.is_marked(0) && m.is_marked(129) && !m.is_marked(64) && !m.is_marked(1000));
        assert_eq!(m.count(), 2);
    }
}
