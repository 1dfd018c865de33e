//! The read path's core, [`Fs::read_to`]: a file's bytes handed out in
//! order, each chunk BLAKE3-verified against the id its extent names
//! before any of its bytes leave, with few calls and copies (issue #13);
//! inline data (a tiny file's bytes in its extent record) is handed out
//! from the record, which the tree checked with its node:
//! - the chunks one read covers are located in one content-store call
//!   ([`Chunks::locate`]) and their blocks read by the filesystem itself,
//!   each run of adjacent extents in one block read, into one staging
//!   buffer ([`Stage`]); the content store neither reads nor hashes them;
//! - each chunk is hashed once, here, in the process that holds its bytes
//!   and that does not trust the content service's answers anyway;
//! - the bytes go to the caller's sink straight from the stage (the fs
//!   service writes them into its client's lease: no copy in between);
//! - the last chunk of a read stays in the stage, so the next sequential
//!   read, which starts inside it, does not fetch it again.
//!
//! Anything unexpected on this path (a chunk the store does not locate, an
//! extent of the wrong size, a block read that fails, bytes that do not
//! hash to the id) sends that one chunk through the store's own verified
//! read ([`Chunks::read_chunk`], checked again here when the store is
//! another process), whose error says what is wrong. So errors and the
//! verified-prefix rule are exactly those of the one-chunk path: a read
//! that meets a bad chunk after some bytes returns those bytes; one that
//! starts at the bad chunk fails with [`FsError::ChunkUnreadable`].
//!
//! # Why the kept chunk cannot be stale
//! The stage keeps bytes only with the [`ChunkRef`] they were verified
//! against (BLAKE3 of exactly `len` bytes), and serves them only to a read
//! whose extent map, looked up in that read, names the same reference. A
//! chunk is named by the hash of its bytes: bytes that hashed to the
//! reference are that chunk's bytes whatever tree, file or snapshot names
//! it and whatever happened on the disk since. Memory: one stage of
//! [`STAGE_BYTES`] and one chunk buffer for the one-chunk path.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{Extent as Blocks, Transactional, BLOCK_SIZE};
use cowbtree::TreeRoot;

use super::{decode_extent, Fs};
use crate::chunks::{ChunkRef, Chunks};
use crate::error::FsError;
use crate::records::{self, Extent, Kind};

/// The staging buffer's size: the chunks of a 1 MiB read (`fs_api::PIECE`)
/// fit in one batch, partial chunks at both ends and each chunk's last
/// block padding included (1 MiB + 2 x 256 KiB + padding < 2 MiB).
pub const STAGE_BYTES: usize = 2 << 20;

/// Zeros for holes, handed out a piece at a time.
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// Where the kept chunk's bytes are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kept {
    /// In the stage, from this byte.
    Stage(usize),
    /// In the one-chunk buffer.
    One,
}

/// The read path's buffers (allocated on first use) and the verified chunk
/// kept from the last read.
#[derive(Default)]
pub(crate) struct Stage {
    buf: Vec<u8>,
    one: Vec<u8>,
    kept: Option<(ChunkRef, Kept)>,
    /// Deterministic counts (issue #13), for tests and `stats`.
    pub counts: ReadCounts,
}

/// What the read path did, counted since the filesystem was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Chunk fetches: located and read, or read through the store.
    pub fetched: u64,
    /// Chunk reads served from the kept chunk (no fetch).
    pub kept_hits: u64,
    /// `Chunks::locate` calls.
    pub locate_calls: u64,
    /// Block reads of chunk data made by the filesystem itself.
    pub block_reads: u64,
    /// Chunks that went through the store's one-chunk read.
    pub one_chunk: u64,
}

/// Why a [`Fs::read_to`] stopped: the filesystem, or the caller's sink.
#[derive(Debug)]
pub enum ReadFail<E> {
    Fs(FsError),
    Sink(E),
}

impl<E> From<FsError> for ReadFail<E> {
    fn from(e: FsError) -> Self {
        ReadFail::Fs(e)
    }
}

/// Bytes a chunk takes in the stage (whole blocks, as stored).
fn padded(r: &ChunkRef) -> usize {
    (r.len as usize).div_ceil(BLOCK_SIZE) * BLOCK_SIZE
}

/// A chunk extent of the read: its file offset and reference.
#[derive(Clone, Copy)]
struct Piece {
    start: u64,
    r: ChunkRef,
}

/// The read in progress: where it is and what it has handed out.
struct Cursor {
    ino: u64,
    pos: u64,
    done: u64,
    want: u64,
}

impl Cursor {
    /// Bytes of the chunk at `p` this read hands out: from `pos`, at most
    /// what is still wanted. A map with a gap before the chunk, or whose
    /// chunk does not cover `pos`, is an error, not a slice panic.
    fn span(&self, p: &Piece) -> Result<(usize, usize), FsError> {
        if p.start > self.pos {
            return Err(FsError::Corrupt {
                what: "gap in extent map",
                ino: self.ino,
            });
        }
        let from = self.pos - p.start;
        if from >= u64::from(p.r.len) {
            return Err(FsError::Corrupt {
                what: "extent does not cover the offset",
                ino: self.ino,
            });
        }
        let n = (u64::from(p.r.len) - from).min(self.want - self.done);
        Ok((from as usize, n as usize))
    }
}

/// Outcome of handing out one chunk.
enum Step {
    /// Handed out; the read goes on.
    Next,
    /// The read ends here (a bad chunk after some bytes: a short read).
    Stop,
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Hands the bytes of file `ino` from `offset` to `sink`, in order, at
    /// most `max` of them; returns how many (0 at or past the end). Each
    /// chunk is verified before any of its bytes go out; a bad chunk after
    /// some bytes ends the read early (a short read), a read starting at
    /// one fails with [`FsError::ChunkUnreadable`], which names the
    /// chunk's offset. A sink's error ends the read at once.
    pub fn read_to<E>(
        &mut self,
        ino: u64,
        offset: u64,
        max: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, ReadFail<E>> {
        let root = self.state.live;
        self.read_to_in(&root, ino, offset, max, sink)
    }

    /// [`Fs::read_to`] in tree `root`.
    pub(crate) fn read_to_in<E>(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        offset: u64,
        max: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, ReadFail<E>> {
        let inode = self.get_inode_in(root, ino)?;
        if inode.kind != Kind::File {
            return Err(FsError::Corrupt {
                what: "read of a directory inode",
                ino,
            }
            .into());
        }
        if offset >= inode.size || max == 0 {
            return Ok(0);
        }
        let want = max.min(inode.size - offset);
        let extents = self.extents_covering(root, ino, offset, want)?;
        let mut cur = Cursor {
            ino,
            pos: offset,
            done: 0,
            want,
        };
        let mut i = 0;
        let mut stopped = false;
        while i < extents.len() && cur.done < want {
            let (end, ref ext) = extents[i];
            let start = end.checked_sub(ext.len()).ok_or(FsError::Corrupt {
                what: "extent starts before 0",
                ino,
            })?;
            if start > cur.pos {
                return Err(FsError::Corrupt {
                    what: "gap in extent map",
                    ino,
                }
                .into());
            }
            let r = match ext {
                &Extent::Chunk(r) => r,
                Extent::Inline(d) => {
                    // Inline bytes: in the tree node, checked with it.
                    let from = usize::try_from(cur.pos - start).unwrap_or(usize::MAX);
                    let n = (end - cur.pos).min(want - cur.done);
                    let bytes = d.bytes().get(from..from.saturating_add(n as usize)).ok_or(
                        FsError::Corrupt {
                            what: "extent does not cover the offset",
                            ino,
                        },
                    )?;
                    sink(bytes).map_err(ReadFail::Sink)?;
                    cur.done += n;
                    cur.pos += n;
                    i += 1;
                    continue;
                }
                Extent::Hole(_) => {
                    // A hole reads as zeros; nothing is stored to verify.
                    let n = (end - cur.pos).min(want - cur.done);
                    let mut left = n;
                    while left > 0 {
                        let k = left.min(ZEROS.len() as u64) as usize;
                        sink(&ZEROS[..k]).map_err(ReadFail::Sink)?;
                        left -= k as u64;
                    }
                    cur.done += n;
                    cur.pos += n;
                    i += 1;
                    continue;
                }
            };
            let first = Piece { start, r };
            if let Some((kept_ref, at)) = self.stage.kept {
                if kept_ref == r {
                    self.stage.counts.kept_hits += 1;
                    let (from, n) = cur.span(&first)?;
                    let bytes = match at {
                        Kept::Stage(o) => &self.stage.buf[o + from..o + from + n],
                        Kept::One => &self.stage.one[from..from + n],
                    };
                    sink(bytes).map_err(ReadFail::Sink)?;
                    cur.done += n as u64;
                    cur.pos += n as u64;
                    i += 1;
                    continue;
                }
            }
            // The chunks from here that fit in the stage, up to a hole.
            let mut batch = vec![first];
            let mut bytes = padded(&r);
            for &(end, ref ext) in &extents[i + 1..] {
                let &Extent::Chunk(r) = ext else { break };
                if bytes + padded(&r) > STAGE_BYTES {
                    break;
                }
                bytes += padded(&r);
                let start = end.checked_sub(u64::from(r.len)).ok_or(FsError::Corrupt {
                    what: "extent starts before 0",
                    ino,
                })?;
                batch.push(Piece { start, r });
            }
            let (handed, step) = self.read_batch(&batch, &mut cur, sink)?;
            i += handed;
            if let Step::Stop = step {
                stopped = true;
                break;
            }
            if handed < batch.len() {
                // Chunk `batch[handed]` failed on the fast path: the store's
                // own read says why, or serves it after all.
                match self.read_one(&batch[handed], &mut cur, sink)? {
                    Step::Next => i += 1,
                    Step::Stop => {
                        stopped = true;
                        break;
                    }
                }
            }
        }
        if cur.done < want && !stopped {
            return Err(FsError::Corrupt {
                what: "extent map shorter than file size",
                ino,
            }
            .into());
        }
        Ok(cur.done)
    }

    /// The extents of file `ino` covering `want` bytes from `offset`, as
    /// (end offset, extent), in order.
    fn extents_covering(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        offset: u64,
        want: u64,
    ) -> Result<Vec<(u64, Extent)>, FsError> {
        let (lo, hi) = records::extent_range_after(ino, offset);
        let mut extents = Vec::new();
        let mut cursor = cowbtree::range(
            &mut self.dev,
            root,
            Bound::Included(&lo),
            Bound::Excluded(&hi),
        )?;
        let mut covered = offset;
        while covered < offset + want {
            let Some((k, v)) = cursor.next_entry()? else {
                break;
            };
            let (end, ext) = decode_extent(ino, &k, &v)?;
            covered = end;
            extents.push((end, ext));
        }
        Ok(extents)
    }

    /// The fast path over `batch` (chunks in file order, which fit in the
    /// stage): locates them, reads their blocks run by run, verifies and
    /// hands out each in order. Returns how many it handed out: fewer than
    /// the batch when one could not be located, read or verified (the
    /// caller sends that one through [`Fs::read_one`]).
    fn read_batch<E>(
        &mut self,
        batch: &[Piece],
        cur: &mut Cursor,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(usize, Step), ReadFail<E>> {
        let refs: Vec<ChunkRef> = batch.iter().map(|p| p.r).collect();
        let mut located: Vec<Blocks> = Vec::with_capacity(refs.len());
        self.stage.counts.locate_calls += 1;
        // A store that cannot answer leaves every chunk to the one-chunk
        // path, whose error is the one to report.
        if self
            .state
            .content
            .locate(&mut self.dev, &refs, &mut located)
            .is_err()
        {
            return Ok((0, Step::Next));
        }
        let block_count = self.dev.block_count();
        // Only extents that are exactly the chunk's blocks, on the device.
        let usable = located
            .iter()
            .zip(&refs)
            .take_while(|(e, r)| {
                e.len == (r.len as usize).div_ceil(BLOCK_SIZE) as u64
                    && e.start.checked_add(e.len).is_some_and(|x| x <= block_count)
            })
            .count();
        if usable == 0 {
            return Ok((0, Step::Next));
        }
        if self.stage.buf.len() < STAGE_BYTES {
            self.stage.buf = vec![0u8; STAGE_BYTES];
        }
        // The stage is about to be overwritten.
        self.stage.kept = None;
        // Stage offsets: chunk k at the sum of the padded sizes before it.
        let mut at = Vec::with_capacity(usable);
        let mut o = 0usize;
        for e in &located[..usable] {
            at.push(o);
            o += e.len as usize * BLOCK_SIZE;
        }
        let mut read_to = 0usize; // chunks before this one are in the stage
        for k in 0..usable {
            if k == read_to {
                // The run of adjacent extents from chunk k: one block read.
                let mut end = k + 1;
                while end < usable
                    && located[end].start == located[end - 1].start + located[end - 1].len
                {
                    end += 1;
                }
                let bytes = at[k]..at[end - 1] + located[end - 1].len as usize * BLOCK_SIZE;
                self.stage.counts.block_reads += 1;
                // Chunk data is read past the node cache (it keeps tree
                // nodes only).
                let dev: &mut T = &mut self.dev;
                if dev
                    .read(located[k].start, &mut self.stage.buf[bytes])
                    .is_err()
                {
                    return Ok((k, Step::Next));
                }
                read_to = end;
            }
            let p = &batch[k];
            self.stage.counts.fetched += 1;
            let data = &self.stage.buf[at[k]..at[k] + p.r.len as usize];
            // The content store's chunk-id hash (blake3tcg, docs/speed.md).
            if blake3tcg::hash(data) != p.r.hash {
                return Ok((k, Step::Next));
            }
            let (from, n) = cur.span(p)?;
            sink(&data[from..from + n]).map_err(ReadFail::Sink)?;
            cur.done += n as u64;
            cur.pos += n as u64;
            if from + n < p.r.len as usize {
                // The read ends inside this chunk: the next one starts here.
                self.stage.kept = Some((p.r, Kept::Stage(at[k])));
                return Ok((k + 1, Step::Stop));
            }
            if cur.done == cur.want {
                return Ok((k + 1, Step::Stop));
            }
        }
        Ok((usable, Step::Next))
    }

    /// One chunk through the store's own verified read (checked again here
    /// when the store is another process), handed out; its failure ends
    /// the read: a short read after some bytes, else the chunk's error.
    fn read_one<E>(
        &mut self,
        p: &Piece,
        cur: &mut Cursor,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Step, ReadFail<E>> {
        self.stage.counts.fetched += 1;
        self.stage.counts.one_chunk += 1;
        if self.stage.kept.is_some_and(|(_, at)| at == Kept::One) {
            self.stage.kept = None;
        }
        let mut one = core::mem::take(&mut self.stage.one);
        let got = self.read_extent(&p.r, &mut one);
        self.stage.one = one;
        if let Err(e) = got {
            if cur.done > 0 {
                return Ok(Step::Stop);
            }
            return Err(FsError::ChunkUnreadable {
                ino: cur.ino,
                offset: p.start,
                len: p.r.len,
                problem: alloc::boxed::Box::new(e),
            }
            .into());
        }
        let (from, n) = cur.span(p)?;
        let bytes = self.stage.one.get(from..from + n).ok_or(FsError::Corrupt {
            what: "extent does not cover the offset",
            ino: cur.ino,
        })?;
        sink(bytes).map_err(ReadFail::Sink)?;
        cur.done += n as u64;
        cur.pos += n as u64;
        if from + n < p.r.len as usize {
            self.stage.kept = Some((p.r, Kept::One));
            return Ok(Step::Stop);
        }
        Ok(Step::Next)
    }

    /// What the read path did so far (deterministic counts, issue #13).
    pub fn read_counts(&self) -> ReadCounts {
        self.stage.counts
    }
}
