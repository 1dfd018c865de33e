//! Write once: an [`AppendStream`] keeps one file's chunker open across the
//! pieces of an upload (a put session, a blob upload, one `PATCH` of a
//! resumable upload), so each byte is chunked, hashed (BLAKE3) and written
//! to the device once, whatever the piece size (issue #13).
//!
//! [`Fs::append`] cannot do that: it sees one piece at a time, so it must
//! cut the file's last chunk at the end of each piece and, on the next
//! append, read that chunk back, chunk it again with the new bytes and
//! write it again (so the chunks do not depend on the piece size). With
//! 48 KiB pieces an 8 MiB blob went through the chunker 1.83 times and to
//! the device 2.5 times. A stream holds the unfinished chunk in its
//! [`Writer`] between pieces instead, and stores it only when the stream
//! is flushed: at the end of the upload, or where the bytes must be
//! durable (the end of a `PATCH`; the next piece then re-chunks that one
//! chunk, once per flush, not once per piece).
//!
//! # On disk while a stream is open
//! The file holds the stream's stored chunks: its extents cover exactly
//! `[0, stored)` and its size is `stored`, so the file is consistent
//! (fsck, GC, snapshots) after every transaction. The `held` bytes past it
//! exist only in the writer's memory (in the content service's, when the
//! store is remote); a crash loses them, which is what a crash did to an
//! unfinished upload before: a put session's staging file and a blob
//! session's upload are dropped at the next mount, and a resumable
//! upload's `PATCH` flushes before it answers.
//!
//! The content service may answer a long push before it has stored the
//! piece (its crate doc): the references of a push are then those of the
//! chunks that call stored, the writer's previous piece's, so `held` may
//! hold up to a piece more than the unfinished chunk. Nothing here needs a
//! piece's references before the next piece goes: each push records what
//! came back (`store_refs`), and the flush's `finish` brings the rest, so
//! after a flush `held` is 0 (checked) and the file holds every byte.
//!
//! # Overlap: the caller's hash of a piece beside the writer's
//! An upload's own hash (SHA-256, the digest its client names) is taken
//! as its bytes go to the chunk writer, not as they are gathered: a push
//! goes a piece ([`SEEN_PIECE`], the content service's push) at a time,
//! and after each the caller's `seen` hook hashes that piece
//! ([`Fs::stream_push_seen`]). The content service answers a long piece
//! once it holds its bytes and BLAKE3s it after the answer, so on two CPUs
//! the filesystem service's SHA-256 of piece n runs while the content
//! service hashes the same piece; the next push waits for that hashing
//! only if SHA-256 was quicker. (Hashing at gather time, a step's four
//! pushes went back to back, each waiting for the previous piece's
//! BLAKE3.) Only what is hashed moves, and when: nothing stored, committed
//! or acknowledged changes, and a failed push still poisons the stream
//! (a resumable upload rebuilds its hash from the file).
//!
//! # Chunk boundaries
//! Content-defined cuts depend only on the bytes since the chunk's start,
//! and the writer sees the object's bytes in order, so the chunks are those
//! of one write of the whole object. A stream opened on a non-empty file
//! (after a flush, or a resumed upload) starts with the file's last chunk
//! (cut there by the end of the file, not by the content): it removes that
//! extent and feeds the chunk's bytes first.
//!
//! # Inline data
//! A flush that finds the whole file gathered (nothing stored, no writer
//! open) and at most [`INLINE_MAX`] bytes stores it inline in the file's
//! extent record ([`records`]): a small put costs no chunk. A stream that
//! goes on past it (a resumed upload) takes those bytes back as its
//! writer's first, as it does a last chunk.
//!
//! # Errors
//! A failed piece leaves the stream's state unknown (the writer advanced,
//! its transaction was undone): the stream is broken for good and every
//! later call fails with [`StreamError::Stale`]; the caller drops the
//! session (or rebuilds it from the file, as a resumable upload does).

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use block::Transactional;
use content::ChunkRef;

use crate::chunks::{Chunks, Writer};
use crate::error::FsError;
use crate::fs::{counted, decode_extent, Fs};
use crate::records::{self, extent_key, Extent, Kind, INLINE_MAX};

/// Bytes a stream gathers before it feeds them to its writer in one
/// transaction. Every transaction costs the journal about 5 blocks of
/// framing plus the images of the tree paths it changes (and their
/// checkpoint), so a step per 48 KiB piece doubled what reaches the
/// device. Measured (`tests/upload_writes_each_byte_once.rs`, 8 MiB blob):
/// device bytes / blob bytes 1.058 with 2 MiB steps, 1.047 with 4 MiB (the
/// rest is each chunk's last block padded, ~2.8%, and the upload's own
/// begin and finish). Memory stays bounded: one step per open session,
/// grown as bytes come (a small upload holds little).
pub const STREAM_STEP: usize = 4 << 20;

/// Bytes copied into streams' step buffers, over the process's life (the
/// filesystem service's `stats` reports it with the stack's other copies;
/// issue #13).
pub static GATHERED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes of step buffers zero-filled as they grew, over the process's life
/// (a deterministic count for tests: once per byte of a stream's largest
/// step, not once per byte appended).
pub static ZEROED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Step buffers allocated or reallocated, over the process's life (a
/// deterministic count for tests: at most one per stream when its length
/// is announced, [`AppendStream::expect`], two otherwise).
pub static STEP_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Bytes of step buffers that a reallocation may have had to move, over
/// the process's life (their length when they were grown).
pub static STEP_MOVED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The pieces a push hands the chunk writer, and then its `seen` hook:
/// the content service's largest push ([`content_api::PIECE`]), which it
/// answers before hashing (see "Overlap" in the module doc).
pub const SEEN_PIECE: usize = content_api::PIECE;

/// An append-only stream into one file (see the module doc).
#[derive(Debug)]
pub struct AppendStream {
    ino: u64,
    /// Bytes of the file in stored chunks: its size on disk.
    stored: u64,
    /// Bytes appended past `stored`: gathered in `gathered`, or held by
    /// the writer (its unfinished chunk).
    held: u64,
    /// The step buffer: `gathered[..filled]` are the bytes not yet fed to
    /// the writer (under [`STREAM_STEP`]). Its length only grows while the
    /// stream lives (bytes past `filled` are stale), so a lease read into
    /// it needs no zero fill first: each byte of it was zeroed once, not
    /// once per step (issue #13: that fill was a pass over every byte).
    gathered: Vec<u8>,
    filled: usize,
    writer: Option<Writer>,
    broken: bool,
}

/// Why a stream operation failed.
#[derive(Debug)]
pub enum StreamError {
    /// The stream cannot go on: an earlier piece failed, or the file is not
    /// what the stream left (a snapshot restore, a write from outside).
    Stale,
    Fs(FsError),
}

impl From<FsError> for StreamError {
    fn from(e: FsError) -> Self {
        StreamError::Fs(e)
    }
}

impl From<block::Error> for StreamError {
    fn from(e: block::Error) -> Self {
        StreamError::Fs(e.into())
    }
}

impl From<cowbtree::TreeError> for StreamError {
    fn from(e: cowbtree::TreeError) -> Self {
        StreamError::Fs(e.into())
    }
}

impl AppendStream {
    /// A stream appending to file `ino`, which holds `size` bytes.
    pub fn new(ino: u64, size: u64) -> Self {
        AppendStream {
            ino,
            stored: size,
            held: 0,
            gathered: Vec::new(),
            filled: 0,
            writer: None,
            broken: false,
        }
    }

    /// Takes `data` into the stream's gathering buffer if the step is not
    /// full yet (no transaction needed: nothing is stored); false when the
    /// step is due (call [`Fs::stream_push`] in a transaction).
    pub fn gather(&mut self, data: &[u8]) -> bool {
        if !self.has_room(data.len()) {
            return false;
        }
        self.room(data.len()).copy_from_slice(data);
        self.filled += data.len();
        GATHERED_BYTES.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.held += data.len() as u64;
        true
    }

    /// True when `n` more bytes fit the step without a push (and the
    /// stream is usable).
    pub fn has_room(&self, n: usize) -> bool {
        !self.broken && self.filled + n <= STREAM_STEP
    }

    /// Takes the step buffer's memory for an upload announced as `total`
    /// bytes (a blob session's length) before its first piece: one
    /// allocation of at most a step, so the buffer never moves as pieces
    /// come (issue #13: growing it by doubling copied 3 MiB of a large
    /// put's first step and took 7 MiB of fresh heap for a 4 MiB step).
    /// Nothing is zeroed here; a small upload takes only what it announced.
    pub fn expect(&mut self, total: u64) {
        let want = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .min(STREAM_STEP);
        if !self.broken && want > self.gathered.capacity() {
            self.take_step_memory(want);
        }
    }

    /// The `n` bytes of the step buffer after the filled part (zeroed only
    /// where the buffer grows; stale bytes otherwise).
    fn room(&mut self, n: usize) -> &mut [u8] {
        let end = self.filled + n;
        if self.gathered.len() < end {
            if self.gathered.capacity() < end {
                // The step's memory is taken at most twice, not doubled
                // piece by piece: a first piece takes what it needs (a
                // small upload holds little), a stream that goes past it
                // takes a whole step.
                let want = if self.gathered.capacity() == 0 {
                    end
                } else {
                    STREAM_STEP.max(end)
                };
                self.take_step_memory(want);
            }
            let grow = end - self.gathered.len();
            self.gathered.resize(end, 0);
            ZEROED_BYTES.fetch_add(grow as u64, Ordering::Relaxed);
        }
        &mut self.gathered[self.filled..end]
    }

    /// Grows the step buffer's capacity to `want` bytes in one allocation
    /// (counted: [`STEP_ALLOCATIONS`], and the bytes a reallocation may
    /// move, [`STEP_MOVED_BYTES`]).
    fn take_step_memory(&mut self, want: usize) {
        if self.gathered.capacity() > 0 {
            STEP_MOVED_BYTES.fetch_add(self.gathered.len() as u64, Ordering::Relaxed);
        }
        STEP_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        self.gathered
            .reserve_exact(want.saturating_sub(self.gathered.len()));
    }

    /// As [`AppendStream::gather`] of `n` bytes that `fill` writes straight
    /// into the step buffer: the filesystem service reads its client's
    /// lease there, one copy of every byte fewer than through a buffer of
    /// its own (issue #13). `None` when they do not fit
    /// ([`AppendStream::has_room`]); `fill`'s error takes nothing. Answers
    /// the bytes taken (for the caller's running hash).
    pub fn gather_with<E>(
        &mut self,
        n: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Option<Result<&[u8], E>> {
        if !self.has_room(n) {
            return None;
        }
        let at = self.filled;
        if let Err(e) = fill(self.room(n)) {
            return Some(Err(e));
        }
        self.filled += n;
        self.held += n as u64;
        Some(Ok(&self.gathered[at..at + n]))
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Bytes appended so far (stored and held).
    pub fn size(&self) -> u64 {
        self.stored + self.held
    }

    /// Bytes held in the writer, not yet stored.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Marks the stream unusable: a transaction that used it failed.
    pub fn poison(&mut self) {
        self.broken = true;
        self.writer = None;
        self.gathered = Vec::new();
        self.filled = 0;
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Appends the gathered bytes and `data` to the stream's file in the
    /// open transaction. Only the chunks they complete are stored (with
    /// their extents, in this transaction); the rest waits in the writer.
    pub fn stream_push(&mut self, s: &mut AppendStream, data: &[u8]) -> Result<(), StreamError> {
        self.stream_push_seen(s, data, &mut |_| {})
    }

    /// [`Fs::stream_push`], giving `seen` every byte it pushes, in order, a
    /// piece ([`SEEN_PIECE`]) at a time right after that piece went to the
    /// chunk writer (see "Overlap" in the module doc).
    pub fn stream_push_seen(
        &mut self,
        s: &mut AppendStream,
        data: &[u8],
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        let r = self.stream_push_inner(s, data, seen);
        if r.is_err() {
            s.poison();
        }
        r
    }

    /// Stores the held bytes as the file's last chunk, in the open
    /// transaction: the file then holds all `s.size()` bytes. The stream
    /// stays usable (the next push re-chunks that last chunk).
    pub fn stream_flush(&mut self, s: &mut AppendStream) -> Result<(), StreamError> {
        self.stream_flush_seen(s, &mut |_| {})
    }

    /// [`Fs::stream_flush`], giving `seen` the gathered bytes it pushes
    /// (as [`Fs::stream_push_seen`]).
    pub fn stream_flush_seen(
        &mut self,
        s: &mut AppendStream,
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        let r = self.stream_flush_inner(s, seen);
        if r.is_err() {
            s.poison();
        }
        r
    }

    fn stream_push_inner(
        &mut self,
        s: &mut AppendStream,
        data: &[u8],
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        self.check_stream(s)?;
        if data.is_empty() && s.filled == 0 {
            return Ok(());
        }
        let mut w = match s.writer.take() {
            Some(w) => w,
            None => self.open_stream(s)?,
        };
        let mut refs = Vec::new();
        let gathered = core::mem::take(&mut s.gathered);
        let filled = core::mem::replace(&mut s.filled, 0);
        for part in [&gathered[..filled], data] {
            for piece in part.chunks(SEEN_PIECE) {
                self.state
                    .content
                    .push(&mut self.dev, &mut w, piece, &mut refs)?;
                seen(piece);
            }
        }
        s.writer = Some(w);
        s.held += data.len() as u64;
        // The buffer is kept for the next step (dropped with the stream).
        s.gathered = gathered;
        self.store_refs(s, &refs)
    }

    fn stream_flush_inner(
        &mut self,
        s: &mut AppendStream,
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        self.check_stream(s)?;
        if s.stored == 0 && s.writer.is_none() && s.filled != 0 && s.filled <= INLINE_MAX {
            // Every byte of a small file is here before its first flush:
            // stored inline in its extent record, no chunk ([`records`]).
            let data = &s.gathered[..s.filled];
            self.put_inline(s.ino, data)?;
            seen(data);
            s.held -= data.len() as u64;
            let stored = data.len() as u64;
            s.filled = 0;
            s.gathered = Vec::new();
            return self.set_stored(s, stored);
        }
        if s.filled != 0 {
            self.stream_push_inner(s, &[], seen)?;
        }
        // Not needed until the next step (a resumable upload between
        // requests keeps no step buffer).
        s.gathered = Vec::new();
        s.filled = 0;
        let Some(w) = s.writer.take() else {
            return Ok(());
        };
        let mut refs = Vec::new();
        self.state.content.finish(&mut self.dev, w, &mut refs)?;
        self.store_refs(s, &refs)?;
        if s.held != 0 {
            return Err(FsError::Corrupt {
                what: "a chunk writer's finish did not store every byte it held",
                ino: s.ino,
            }
            .into());
        }
        Ok(())
    }

    /// The chunks of file `ino` in order (holes and inline data left
    /// out: an inline file has none): what a test or a
    /// tool compares to see that two files were cut the same way.
    pub fn file_chunks(&mut self, ino: u64) -> Result<Vec<ChunkRef>, FsError> {
        let (lo, hi) = records::extent_range_after(ino, 0);
        let lo = extent_key(ino, 0).min(lo);
        let mut cursor = self.live_range(&lo, &hi)?;
        let mut out = Vec::new();
        while let Some((k, v)) = cursor.next_entry()? {
            if let (_, Extent::Chunk(c)) = decode_extent(ino, &k, &v)? {
                out.push(ChunkRef {
                    hash: c.hash,
                    len: c.len,
                });
            }
        }
        Ok(out)
    }

    /// The file is what the stream left: a file of `stored` bytes.
    fn check_stream(&mut self, s: &AppendStream) -> Result<(), StreamError> {
        if s.broken {
            return Err(StreamError::Stale);
        }
        match self.get_inode(s.ino) {
            Ok(i) if i.kind == Kind::File && i.size == s.stored => Ok(()),
            Ok(_) | Err(FsError::NotFound { .. }) => Err(StreamError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// A new writer for the stream; on a non-empty file it starts with the
    /// file's last chunk (removed from the file, fed again).
    fn open_stream(&mut self, s: &mut AppendStream) -> Result<Writer, StreamError> {
        let mut w = self.state.content.writer();
        if s.stored == 0 {
            return Ok(w);
        }
        let (lo, hi) = records::extent_range_after(s.ino, s.stored - 1);
        let last = self.live_range(&lo, &hi)?.next_entry()?;
        let Some((k, v)) = last else {
            return Err(FsError::Corrupt {
                what: "a file's extents end before its size",
                ino: s.ino,
            }
            .into());
        };
        let (end, ext) = decode_extent(s.ino, &k, &v)?;
        if matches!(ext, Extent::Hole(_)) {
            // A hole at the end was never a cut chunk: nothing to re-chunk.
            return Ok(w);
        }
        if end != s.stored {
            return Err(StreamError::Stale);
        }
        let start = end - ext.len();
        let tail = match &ext {
            // Inline data becomes the start of the file's chunks.
            Extent::Inline(d) => d.bytes().to_vec(),
            _ => {
                let mut tail = vec![0u8; ext.len() as usize];
                let mut got = 0usize;
                while got < tail.len() {
                    let n = self.read_at(s.ino, start + got as u64, &mut tail[got..])?;
                    if n == 0 {
                        return Err(FsError::Corrupt {
                            what: "a file's last chunk reads short",
                            ino: s.ino,
                        }
                        .into());
                    }
                    got += n;
                }
                tail
            }
        };
        cowbtree::remove(&mut self.dev, &mut self.state.live, &extent_key(s.ino, end))?;
        self.set_stored(s, start)?;
        s.held += ext.len();
        let mut refs = Vec::new();
        self.state
            .content
            .push(&mut self.dev, &mut w, &tail, &mut refs)?;
        self.store_refs(s, &refs)?;
        Ok(w)
    }

    /// Records the completed chunks `refs` as the file's next extents.
    fn store_refs(&mut self, s: &mut AppendStream, refs: &[ChunkRef]) -> Result<(), StreamError> {
        if refs.is_empty() {
            return Ok(());
        }
        let at = self.put_extents(s.ino, s.stored, refs)?;
        let added = at - s.stored;
        if added > s.held {
            return Err(FsError::Corrupt {
                what: "a chunk writer stored more bytes than it was given",
                ino: s.ino,
            }
            .into());
        }
        s.held -= added;
        self.set_stored(s, at)
    }

    /// The file's size (and the live tree's byte count) follow `stored`.
    fn set_stored(&mut self, s: &mut AppendStream, stored: u64) -> Result<(), StreamError> {
        let mut inode = self.get_inode(s.ino)?;
        self.quota_file_changed(&inode, Some(inode.size), Some(stored))?;
        if counted(&inode) {
            let m = &mut self.state.meta;
            m.logical_bytes = m
                .logical_bytes
                .saturating_sub(inode.size)
                .saturating_add(stored);
        }
        let now = self.now();
        inode.size = stored;
        inode.mtime = now;
        inode.ctime = now;
        self.put_inode(s.ino, &inode)?;
        s.stored = stored;
        Ok(())
    }
}
