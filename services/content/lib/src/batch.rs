//! Storing the chunks of one piece together ([`ContentStore::put_cuts`]):
//! one allocation for all of its new chunks, and their data in as few
//! writes as their layout in the caller's buffer allows.
//!
//! Why (issue #13): `put_chunk` allocates each chunk's extent on its own,
//! and over IPC each allocation is a round trip to the block service (~15
//! per 1 MiB piece); it also copies each chunk's partial last block to pad
//! it. A piece's new chunks placed one after another in a single extent
//! are the same chunks on disk (each still one extent of whole blocks,
//! zero-padded, its own index entry: the format does not change), and
//! when the caller laid them out that way in its buffer (each chunk at a
//! block boundary, its padding zero: `ChunkWriter::write_with` does) a run
//! of them is one `write_fresh` straight from that buffer, with no copy.

use alloc::vec::Vec;

use block::{Extent, Transactional, BLOCK_SIZE};

use crate::chunk_ref::ChunkRef;
use crate::chunker::MAX_CHUNK;
use crate::error::PutError;
use crate::index_entry::{blocks_for, IndexEntry};
use crate::store::ContentStore;

/// A chunk cut and hashed, not yet stored: `buf[at..at + len]` of the
/// buffer given to [`ContentStore::put_cuts`], whose BLAKE3 is `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub at: usize,
    pub len: u32,
    pub hash: [u8; 32],
}

impl Cut {
    fn blocks(&self) -> u64 {
        blocks_for(self.len as usize)
    }

    /// Its bytes and their padding to whole blocks, if `buf` holds them
    /// in place: the padding inside `buf`, zero, and before `next_at`.
    fn padded_in<'b>(&self, buf: &'b [u8], next_at: usize) -> Option<&'b [u8]> {
        let end = self.at.checked_add(self.blocks() as usize * BLOCK_SIZE)?;
        if end > buf.len() || end > next_at {
            return None;
        }
        let pad = buf.get(self.at + self.len as usize..end)?;
        // Checked, not trusted: a few KiB per chunk at most, eight bytes a
        // step (a branch per byte costs a translated block each under TCG).
        if !is_zero(pad) {
            return None;
        }
        buf.get(self.at..end)
    }
}

/// True when every byte of `bytes` is zero: whole words ORed together,
/// one test per 64 bytes.
fn is_zero(bytes: &[u8]) -> bool {
    let (words, tail) = bytes.as_chunks::<8>();
    words.chunks(8).all(|group| {
        group
            .iter()
            .fold(0u64, |acc, w| acc | u64::from_ne_bytes(*w))
            == 0
    }) && tail.iter().all(|&b| b == 0)
}

/// What one [`ContentStore::put_cuts`] did (for counters and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutCuts {
    /// Chunks newly stored (the rest were stored already).
    pub stored: u64,
    /// `allocate` calls made.
    pub allocations: u64,
    /// `write_fresh` calls made.
    pub writes: u64,
    /// Bytes written straight from the caller's buffer (padding included).
    pub in_place: u64,
    /// Bytes copied to pad a chunk's last block (not laid out in place).
    pub padded: u64,
}

impl ContentStore {
    /// Stores the chunks `cuts` of `buf` (in order; each its own chunk, as
    /// [`ContentStore::put_chunk`] stores one, with the hash the cut names)
    /// and calls `emit` with each chunk's reference, in order. A chunk
    /// stored already (or twice in `cuts`) is stored once; its GC epoch is
    /// refreshed as `put_chunk` does. The new chunks share one allocation
    /// (one extent per chunk inside it) unless no run that long is free,
    /// then each is allocated alone. New chunks laid out in place (see
    /// [`Cut`] and the module doc) and adjacent in `buf` go in one
    /// `write_fresh` per run.
    ///
    /// The hashes are the caller's: it computed them over the same bytes
    /// (the reader verifies every chunk against its hash anyway).
    pub fn put_cuts<T: Transactional>(
        &mut self,
        tx: &mut T,
        buf: &[u8],
        cuts: &[Cut],
        emit: &mut dyn FnMut(ChunkRef),
    ) -> Result<PutCuts, PutError> {
        let mut done = PutCuts::default();
        for c in cuts {
            if c.len == 0 {
                return Err(PutError::Empty);
            }
            if c.len as usize > MAX_CHUNK || c.at.saturating_add(c.len as usize) > buf.len() {
                return Err(PutError::TooLarge {
                    len: c.len as usize,
                });
            }
        }
        // Which cuts are new: not in the index, not earlier in `cuts`.
        let mut new: Vec<usize> = Vec::new();
        for (i, c) in cuts.iter().enumerate() {
            if new.iter().any(|&j| cuts[j].hash == c.hash) {
                continue;
            }
            if let Some(v) = cowbtree::get(tx, &self.root.index, &c.hash)? {
                let hash = c.hash;
                let mut entry = IndexEntry::decode(&v)
                    .map_err(|problem| PutError::CorruptIndex { hash, problem })?;
                if entry.epoch < self.root.epoch {
                    // Touched during a GC: the sweep of that GC must keep it.
                    entry.epoch = self.root.epoch;
                    cowbtree::insert(tx, &mut self.root.index, &hash, &entry.encode())?;
                }
                continue;
            }
            new.push(i);
        }
        let places = self.place(tx, cuts, &new, &mut done)?;
        self.write_cuts(tx, buf, cuts, &new, &places, &mut done)?;
        // The new chunks' index entries, in hash order, go in as one
        // batch: one descent per index leaf they touch and each changed
        // node written (sealed) once, not one insert per chunk (issue
        // #13). Their hashes are distinct and not in the index: each is a
        // new key, as one insert each would make it.
        let mut entries = Vec::with_capacity(new.len());
        for (&i, &start) in new.iter().zip(&places) {
            let c = &cuts[i];
            let entry = IndexEntry {
                start,
                len: c.len,
                epoch: self.root.epoch,
            };
            entries.push((c.hash, entry.encode()));
            self.root.chunks += 1;
            self.root.chunk_bytes += u64::from(c.len);
            self.root.data_blocks += c.blocks();
        }
        entries.sort_unstable_by_key(|e| e.0);
        cowbtree::insert_batch(
            tx,
            &mut self.root.index,
            &entries,
            &mut [0; cowbtree::NODE_SIZE],
        )?;
        done.stored = new.len() as u64;
        for c in cuts {
            emit(ChunkRef {
                hash: c.hash,
                len: c.len,
            });
        }
        Ok(done)
    }

    /// The first block of each new chunk: one allocation for all of them,
    /// or (no run that long is free) one each.
    fn place<T: Transactional>(
        &mut self,
        tx: &mut T,
        cuts: &[Cut],
        new: &[usize],
        done: &mut PutCuts,
    ) -> Result<Vec<u64>, PutError> {
        let total: u64 = new.iter().map(|&i| cuts[i].blocks()).sum();
        let mut places = Vec::with_capacity(new.len());
        if total == 0 {
            return Ok(places);
        }
        done.allocations += 1;
        match tx.allocate(total) {
            Ok(extent) => {
                let mut at = extent.start;
                for &i in new {
                    places.push(at);
                    at += cuts[i].blocks();
                }
            }
            Err(block::Error::NoSpace) if new.len() > 1 => {
                // Fragmented space: each chunk needs only its own run.
                for &i in new {
                    done.allocations += 1;
                    let e: Extent = tx.allocate(cuts[i].blocks())?;
                    places.push(e.start);
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(places)
    }

    /// Writes the new chunks' data: runs laid out in place (contiguous in
    /// `buf` and on the device) as one write each; any other chunk as
    /// `put_chunk` writes it (its whole blocks, then its last block padded
    /// in a copy).
    fn write_cuts<T: Transactional>(
        &mut self,
        tx: &mut T,
        buf: &[u8],
        cuts: &[Cut],
        new: &[usize],
        places: &[u64],
        done: &mut PutCuts,
    ) -> Result<(), PutError> {
        // The open run: (first block, byte range in `buf`).
        let mut run: Option<(u64, usize, usize)> = None;
        for (&i, &start) in new.iter().zip(places) {
            let c = &cuts[i];
            let next_at = cuts.get(i + 1).map_or(usize::MAX, |n| n.at);
            if let Some(padded) = c.padded_in(buf, next_at) {
                let end = c.at + padded.len();
                match &mut run {
                    Some((first, from, to))
                        if *to == c.at && *first + ((*to - *from) / BLOCK_SIZE) as u64 == start =>
                    {
                        *to = end;
                    }
                    _ => {
                        self.send_run(tx, run.take(), buf, done)?;
                        run = Some((start, c.at, end));
                    }
                }
                continue;
            }
            self.send_run(tx, run.take(), buf, done)?;
            let data = &buf[c.at..c.at + c.len as usize];
            let whole = data.len() / BLOCK_SIZE * BLOCK_SIZE;
            if whole > 0 {
                tx.write_fresh(start, &data[..whole])?;
                done.writes += 1;
            }
            if whole < data.len() {
                let mut last = [0u8; BLOCK_SIZE];
                last[..data.len() - whole].copy_from_slice(&data[whole..]);
                tx.write_fresh(start + (whole / BLOCK_SIZE) as u64, &last)?;
                done.writes += 1;
                done.padded += (data.len() - whole) as u64;
            }
        }
        self.send_run(tx, run, buf, done)
    }

    fn send_run<T: Transactional>(
        &mut self,
        tx: &mut T,
        run: Option<(u64, usize, usize)>,
        buf: &[u8],
        done: &mut PutCuts,
    ) -> Result<(), PutError> {
        if let Some((first, from, to)) = run {
            tx.write_fresh(first, &buf[from..to])?;
            done.writes += 1;
            done.in_place += (to - from) as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_zero;

    #[test]
    fn is_zero_sees_any_nonzero_byte() {
        for len in 0..200 {
            let mut b = alloc::vec![0u8; len];
            assert!(is_zero(&b), "{len} zeros");
            for at in 0..len {
                b[at] = 1 << (at % 8);
                assert!(!is_zero(&b), "byte {at} of {len}");
                b[at] = 0;
            }
        }
    }
}
