//! `ChunkWriter`: streaming put. Feed it slices of any size; it cuts them
//! into content-defined chunks and stores each as it completes.

use alloc::vec::Vec;

use block::Transactional;

use crate::chunk_ref::ChunkRef;
use crate::chunker::{Chunker, MAX_CHUNK};
use crate::error::PutError;
use crate::store::ContentStore;

/// Streaming writer of one object.
///
/// Working set: one chunk buffer of [`MAX_CHUNK`] bytes, allocated when
/// the writer first holds bytes (a service keeps several writers open; most
/// are idle between pieces or hold nothing). The caller decides
/// transaction boundaries: every `write` and `finish` runs in the
/// transaction open at the time, and the chunks completed by that call are
/// stored in it and handed to `emit`, so an object of many GiB spans as many
/// transactions as the caller likes. Bytes of the unfinished chunk are held
/// in memory between calls.
///
/// After an error the writer is unusable: abort the transaction and start
/// the object again.
///
/// # Invariants
/// `buf.len() < MAX_CHUNK` between calls (the chunker cuts at `MAX_CHUNK`).
pub struct ChunkWriter {
    chunker: Chunker,
    buf: Vec<u8>,
    total: u64,
    /// Bytes copied into `buf` (a chunk that spans the caller's slices).
    copied: u64,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        ChunkWriter {
            chunker: Chunker::new(),
            buf: Vec::new(),
            total: 0,
            copied: 0,
        }
    }

    /// Bytes held of the unfinished chunk (stored by the next cut or by
    /// `finish`).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Bytes copied into the writer's chunk buffer so far: those of the
    /// chunks that did not lie whole in one slice given to `write`.
    pub fn copied_bytes(&self) -> u64 {
        self.copied
    }

    /// Bytes fed so far.
    pub fn bytes_written(&self) -> u64 {
        self.total
    }

    /// Feeds `data`; calls `emit` with each chunk it completes, in order.
    pub fn write<T: Transactional>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        mut data: &[u8],
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<(), PutError> {
        self.total += data.len() as u64;
        while !data.is_empty() {
            match self.chunker.find_cut(data) {
                Some(n) => {
                    let (head, rest) = data.split_at(n);
                    data = rest;
                    let chunk = if self.buf.is_empty() {
                        // The whole chunk is in the caller's slice: no copy.
                        store.put_chunk(tx, head)?
                    } else {
                        self.buf
                            .reserve_exact(MAX_CHUNK.saturating_sub(self.buf.len()));
                        self.buf.extend_from_slice(head);
                        self.copied += head.len() as u64;
                        let c = store.put_chunk(tx, &self.buf)?;
                        self.buf.clear();
                        c
                    };
                    emit(chunk);
                }
                None => {
                    self.buf
                        .reserve_exact(MAX_CHUNK.saturating_sub(self.buf.len()));
                    self.buf.extend_from_slice(data);
                    self.copied += data.len() as u64;
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// Stores the last, possibly short, chunk (none for an empty remainder)
    /// and returns the object's length in bytes.
    pub fn finish<T: Transactional>(
        mut self,
        store: &mut ContentStore,
        tx: &mut T,
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<u64, PutError> {
        if !self.buf.is_empty() {
            emit(store.put_chunk(tx, &self.buf)?);
            self.buf.clear();
        }
        Ok(self.total)
    }
}
