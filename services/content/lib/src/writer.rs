//! `ChunkWriter`: streaming put. Feed it slices of any size; it cuts them
//! into content-defined chunks and stores each as it completes.

use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;

use block::BLOCK_SIZE;

use crate::batch::{Cut, PutCuts};
use crate::chunk_ref::ChunkRef;
use crate::chunker::{Chunker, MAX_CHUNK, MIN_CHUNK};
use crate::error::PutError;
use crate::store::ContentStore;

/// Bytes [`ChunkWriter::write_with`] asks its source for at once: no more
/// than the shortest chunk, so a window holds at most one cut.
pub const WINDOW: usize = 16 * 1024;
const _: () = assert!(WINDOW <= MIN_CHUNK);

/// Bytes of a [`LayoutBuf`]: a 1 MiB piece (the content service's
/// `PIECE`), the unfinished chunk before it, and the padding of its
/// chunks, so that such a piece is usually one allocation and one write.
/// Any size from `MAX_CHUNK + WINDOW + BLOCK_SIZE` up works (a smaller one
/// stores a piece in more steps).
pub const LAYOUT_BYTES: usize = (1 << 20) + MAX_CHUNK + (256 << 10);
const _: () = assert!(LAYOUT_BYTES >= MAX_CHUNK + WINDOW + BLOCK_SIZE);

/// The buffer [`ChunkWriter::write_with`] lays a piece's chunks out in
/// (one per service, shared by its writers: it holds nothing between
/// calls).
pub struct LayoutBuf {
    bytes: Vec<u8>,
}

impl Default for LayoutBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl LayoutBuf {
    pub fn new() -> Self {
        Self::with_len(LAYOUT_BYTES)
    }

    /// A smaller or larger buffer (tests: a piece stored in several steps).
    pub fn with_len(len: usize) -> Self {
        LayoutBuf {
            bytes: vec![0u8; len.max(MAX_CHUNK + WINDOW + BLOCK_SIZE)],
        }
    }
}

fn add(sum: &mut PutCuts, one: PutCuts) {
    sum.stored += one.stored;
    sum.allocations += one.allocations;
    sum.writes += one.writes;
    sum.in_place += one.in_place;
    sum.padded += one.padded;
}

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
    /// A piece taken and not stored yet ([`ChunkWriter::take_with`]).
    held: Option<Held>,
}

/// A piece a writer holds: its chunks laid out in `layout[..end]` and cut
/// (`cuts`, hashed once `hashed`), not stored. The bytes after `end` (the
/// unfinished chunk) are in the writer's own buffer already.
struct Held {
    layout: LayoutBuf,
    cuts: Vec<Cut>,
    end: usize,
    hashed: bool,
}

/// What [`ChunkWriter::lay_out`] leaves: see there.
struct LaidOut {
    sum: PutCuts,
    cuts: Vec<Cut>,
    start: usize,
    pos: usize,
}

/// Each cut's BLAKE3 over its bytes in `l`.
fn hash_cuts(l: &[u8], cuts: &mut [Cut]) {
    for c in cuts {
        c.hash = blake3tcg::hash(&l[c.at..c.at + c.len as usize]);
    }
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
            held: None,
        }
    }

    /// Bytes fed and not stored yet: the unfinished chunk's (stored by
    /// the next cut or by `finish`) and a held piece's chunks' (stored by
    /// the next call: [`ChunkWriter::take_with`]).
    pub fn pending(&self) -> usize {
        let held = self
            .held
            .as_ref()
            .map_or(0, |h| h.cuts.iter().map(|c| c.len as usize).sum::<usize>());
        self.buf.len() + held
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
    /// The chunks that lie whole in `data` are stored together
    /// ([`ContentStore::put_cuts`]: one allocation for the call). A held
    /// piece ([`ChunkWriter::take_with`]) is stored first.
    pub fn write<T: Transactional>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        data: &[u8],
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<(), PutError> {
        self.settle(store, tx, &mut emit)?;
        self.total += data.len() as u64;
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let Some(n) = self.chunker.find_cut(&data[at..]) else {
                self.hold(&data[at..]);
                break;
            };
            let head = &data[at..at + n];
            if self.buf.is_empty() {
                // The whole chunk is in the caller's slice: no copy.
                cuts.push(Cut {
                    at,
                    len: n as u32,
                    hash: blake3tcg::hash(head),
                });
            } else {
                // The first cut of the call (`cuts` is still empty).
                self.hold(head);
                let c = store.put_chunk(tx, &self.buf)?;
                self.buf.clear();
                emit(c);
            }
            at += n;
        }
        store.put_cuts(tx, data, &cuts, &mut emit)?;
        Ok(())
    }

    /// Feeds `len` bytes that `fill(offset, into)` provides, in order, in
    /// windows of at most [`WINDOW`] bytes written straight into `layout`
    /// (the content service reads its client's lease there): each chunk
    /// starts at a block boundary of `layout` and its padding is zeroed, so
    /// the piece's new chunks go to the device in one write from `layout`,
    /// with no copy (issue #13). What a cut leaves of its window moves up to
    /// the next block boundary (half a window per chunk on average, counted
    /// in [`ChunkWriter::copied_bytes`], as is the unfinished chunk carried
    /// between calls). Chunks, ids and what is stored are those of
    /// [`ChunkWriter::write`] of the same bytes. `fill`'s error ends the
    /// call (the writer is then unusable, as after any error). A piece the
    /// writer holds ([`ChunkWriter::take_with`]) is stored first.
    pub fn write_with<T: Transactional, E: From<PutError>>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        layout: &mut LayoutBuf,
        len: usize,
        fill: impl FnMut(usize, &mut [u8]) -> Result<(), E>,
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<PutCuts, E> {
        let (mut sum, _) = self.settle(store, tx, &mut emit)?;
        let l = &mut layout.bytes[..];
        let laid = self.lay_out(store, tx, l, len, fill, &mut emit, true)?;
        add(&mut sum, laid.sum);
        add(
            &mut sum,
            store.put_cuts(tx, &l[..laid.start], &laid.cuts, &mut emit)?,
        );
        self.hold_from(&l[laid.start..laid.pos]);
        Ok(sum)
    }

    /// As [`ChunkWriter::write_with`], but the piece's chunks are only cut
    /// and laid out in `layout`, not hashed or stored: the writer keeps
    /// them with `layout` (its held piece) until [`ChunkWriter::hash_held`]
    /// hashes them and the writer's next call ([`ChunkWriter::settle`],
    /// which `write_with`, `take_with` and `finish` begin with) stores
    /// them, in that call's transaction. The content service answers its
    /// client between the two (the piece is in its memory), so the
    /// client's work on its next piece overlaps the hashing. Chunks and
    /// what is stored are those of `write_with` of the same bytes; only
    /// the call that stores (and emits) them moves. A piece too long for
    /// `layout` stores its first chunks in this call, as `write_with`
    /// does. A held piece is stored first (its buffer is then dropped: a
    /// caller that reuses buffers settles before).
    #[allow(clippy::too_many_arguments)]
    pub fn take_with<T: Transactional, E: From<PutError>>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        mut layout: LayoutBuf,
        len: usize,
        fill: impl FnMut(usize, &mut [u8]) -> Result<(), E>,
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<PutCuts, E> {
        let (mut sum, _) = self.settle(store, tx, &mut emit)?;
        let laid = self.lay_out(store, tx, &mut layout.bytes, len, fill, &mut emit, false)?;
        add(&mut sum, laid.sum);
        self.hold_from(&layout.bytes[laid.start..laid.pos]);
        if !laid.cuts.is_empty() {
            self.held = Some(Held {
                layout,
                cuts: laid.cuts,
                end: laid.start,
                hashed: false,
            });
        }
        Ok(sum)
    }

    /// True while the writer holds a piece taken by
    /// [`ChunkWriter::take_with`] and not yet stored.
    pub fn holds_piece(&self) -> bool {
        self.held.is_some()
    }

    /// True while the held piece waits for [`ChunkWriter::hash_held`]:
    /// the content service then answers saying it goes on computing.
    pub fn hash_pending(&self) -> bool {
        self.held.as_ref().is_some_and(|h| !h.hashed)
    }

    /// Hashes the held piece's chunks (the work the content service does
    /// after answering the push that brought them). No I/O, no store
    /// state: it cannot fail, and nothing another caller can see changes.
    pub fn hash_held(&mut self) {
        if let Some(h) = &mut self.held {
            if !h.hashed {
                hash_cuts(&h.layout.bytes, &mut h.cuts);
                h.hashed = true;
            }
        }
    }

    /// Stores the held piece's chunks (hashing them first if
    /// [`ChunkWriter::hash_held`] did not) in the open transaction and
    /// emits them in order; answers what was done and the piece's buffer
    /// for reuse (`None` when nothing was held). After an error the
    /// writer is unusable, as after any error.
    pub fn settle<T: Transactional>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        emit: &mut dyn FnMut(ChunkRef),
    ) -> Result<(PutCuts, Option<LayoutBuf>), PutError> {
        self.hash_held();
        let Some(h) = self.held.take() else {
            return Ok((PutCuts::default(), None));
        };
        let done = store.put_cuts(tx, &h.layout.bytes[..h.end], &h.cuts, emit)?;
        Ok((done, Some(h.layout)))
    }

    /// Gives up the held piece without storing it (its writer was
    /// dropped): its buffer, for reuse.
    pub fn release_held(&mut self) -> Option<LayoutBuf> {
        self.held.take().map(|h| h.layout)
    }

    /// The layout of `write_with` and `take_with`: feeds the piece into
    /// `l`, cutting as it goes (and hashing each cut with `hash_now`);
    /// stores what was laid out whenever `l` is full. Answers the cuts
    /// not stored yet, the end of the last (`start`) and the end of the
    /// unfinished chunk (`pos`) in `l`.
    #[allow(clippy::too_many_arguments)]
    fn lay_out<T: Transactional, E: From<PutError>>(
        &mut self,
        store: &mut ContentStore,
        tx: &mut T,
        l: &mut [u8],
        len: usize,
        mut fill: impl FnMut(usize, &mut [u8]) -> Result<(), E>,
        emit: &mut dyn FnMut(ChunkRef),
        hash_now: bool,
    ) -> Result<LaidOut, E> {
        self.total += len as u64;
        let mut sum = PutCuts::default();
        // The unfinished chunk first; `start..pos` is always the chunk
        // being cut, `start` a block boundary.
        let mut pos = self.buf.len();
        l[..pos].copy_from_slice(&self.buf);
        self.copied += pos as u64;
        self.buf.clear();
        let mut start = 0usize;
        let mut cuts: Vec<Cut> = Vec::new();
        let mut off = 0usize;
        while off < len {
            let n = (len - off).min(WINDOW);
            // A window holds at most one cut (`WINDOW <= MIN_CHUNK`), which
            // may move the window's rest up by less than a block.
            if pos + n + BLOCK_SIZE > l.len() {
                if !hash_now {
                    hash_cuts(l, &mut cuts);
                }
                add(&mut sum, store.put_cuts(tx, &l[..start], &cuts, emit)?);
                cuts.clear();
                l.copy_within(start..pos, 0);
                self.copied += (pos - start) as u64;
                pos -= start;
                start = 0;
            }
            fill(off, &mut l[pos..pos + n])?;
            let mut at = pos;
            let mut end = pos + n;
            while let Some(k) = self.chunker.find_cut(&l[at..end]) {
                let cut_end = at + k;
                cuts.push(Cut {
                    at: start,
                    len: (cut_end - start) as u32,
                    hash: if hash_now {
                        blake3tcg::hash(&l[start..cut_end])
                    } else {
                        [0; 32]
                    },
                });
                let next = cut_end.next_multiple_of(BLOCK_SIZE);
                let rest = end - cut_end;
                if next != cut_end {
                    l.copy_within(cut_end..end, next);
                    self.copied += rest as u64;
                    // The chunk's padding (what the move left behind).
                    l[cut_end..next].fill(0);
                }
                start = next;
                at = next;
                end = next + rest;
                if rest == 0 {
                    break;
                }
            }
            pos = end;
            off += n;
        }
        Ok(LaidOut {
            sum,
            cuts,
            start,
            pos,
        })
    }

    /// Appends `data` to the unfinished chunk's buffer (a copy).
    fn hold(&mut self, data: &[u8]) {
        self.buf
            .reserve_exact(MAX_CHUNK.saturating_sub(self.buf.len()));
        self.buf.extend_from_slice(data);
        self.copied += data.len() as u64;
    }

    /// The unfinished chunk is `data` (the buffer was emptied).
    fn hold_from(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.hold(data);
        }
    }

    /// Stores the held piece (if any) and the last, possibly short, chunk
    /// (none for an empty remainder) and returns the object's length in
    /// bytes.
    pub fn finish<T: Transactional>(
        mut self,
        store: &mut ContentStore,
        tx: &mut T,
        mut emit: impl FnMut(ChunkRef),
    ) -> Result<u64, PutError> {
        // The held piece's chunks come before the last one.
        self.settle(store, tx, &mut emit)?;
        if !self.buf.is_empty() {
            emit(store.put_chunk(tx, &self.buf)?);
            self.buf.clear();
        }
        Ok(self.total)
    }
}
