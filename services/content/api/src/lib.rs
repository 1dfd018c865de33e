//! The content-store service's IPC interface (declared once, [`chunk_store`]:
//! client stubs, the server's dispatch, typed errors [`ContentError`]) and
//! its client [`ContentClient`], which keeps the store's root for its
//! caller. It depends on the content store's own types only: the
//! filesystem adapts this client to its `Chunks` trait, not the other way.
//!
//! The content service runs `content::ContentStore` in its own process. It
//! never begins or commits a block transaction: the filesystem service
//! opens one, delegates it to the content service's badge
//! (`block_api::BlockRequest::Delegate`), and the content service does its
//! block reads, writes, allocations and frees inside it. Chunk data, chunk
//! index and the filesystem's namespace change therefore commit in ONE
//! block transaction, as when the store ran in-process.
//!
//! # Design principles
//! - The service holds no copy of the store's root: the caller sends the
//!   96-byte root (`content::ContentRoot`) with every request in lease 0
//!   and gets the new one back there. The filesystem keeps the root in its
//!   own state, so undoing a failed operation is what it was in-process
//!   (restore the old root; the block transaction's abort undoes the rest).
//! - Per-client sessions, keyed by the caller's badge: up to
//!   [`MAX_WRITERS`] chunk writers, each named by the id `writer_start`
//!   answers (the bytes of its unfinished chunk, at most
//!   `content::MAX_CHUNK`), so one client (the filesystem service) can keep
//!   several uploads' chunkers open across their pieces; and one collection
//!   (its marks and sweep position).
//! - Bulk data in lease 1, at most [`PIECE`] bytes per call: memory is
//!   bounded in both processes whatever the object size.
//! - A failed call answers with a [`ContentError`] and its values in the
//!   same reply (no second call for the text); it reads as plain words.
//! - The client is generic over its transport (`abi::iface::Transport`),
//!   so it builds and is tested on the host.
//!
//! # Lease 0 layout (the "frame")
//! ```text
//! offset  size              field
//!      0    96  ROOT        the content store's root, in and (mutating
//!                           requests) out
//!     96     4  COUNT       u32 LE: references that follow
//!    100  36*n  REFS        ChunkRef::encode each (hash 32, len u32 LE)
//! ```
//! Requests that name one chunk (`read_chunk`, `contains`, `mark`) send it
//! as the first reference; `locate` sends up to `MAX_REFS`; `push` and `finish` get the references
//! of the chunks they stored back there (a `push`'s may be its writer's
//! previous piece's: see `push`), as does `store_whole` (all of its
//! object's).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod client;
mod error;

pub use block_api::client::write_handed_over;
pub use client::ContentClient;
pub use error::{BlockFault, ContentError, Hash, IndexProblem, RootProblem, TreeFault};

use abi::iface::Words;
use content::{ChunkRef, ContentRoot, MAX_CHUNK, MIN_CHUNK};

abi::words! {
    /// What `sweep_step` answers: done, and the totals so far.
    pub struct SweepStepped {
        pub done: bool,
        pub scanned: u64,
        pub chunks: u64,
        pub bytes: u64,
        pub blocks: u64,
    }
}

abi::words! {
    /// What `visit_blocks` answers.
    pub struct Visited {
        /// Extents written into lease 1.
        pub written: u64,
        /// That was the last of them.
        pub last: bool,
        /// Unless `last`: the cursor of the next page (the last index key
        /// visited).
        pub next: Hash,
    }
}

abi::words! {
    /// What `store_whole_forward` answers.
    pub struct Whole {
        /// References in the frame.
        pub refs: u64,
        /// Block images handed back in lease 1 (0: the service sent its
        /// writes itself).
        pub images: u64,
    }
}

abi::words! {
    /// What an operation answering text (`check`) wrote into lease 1.
    pub struct Text {
        pub written: u64,
        /// Bytes the full text needs.
        pub needed: u64,
    }
}

abi::words! {
    /// What `check_page` and `check_end` answer: problem lines (one per
    /// line, the first `cowbtree::MAX_LISTED_PROBLEMS`) written into lease 1.
    pub struct CheckedPage {
        pub written: u64,
        /// Bytes the full text needs.
        pub needed: u64,
        /// Problems found (may exceed the lines).
        pub count: u64,
        /// `check_page`: that was the last page.
        pub done: bool,
        /// `check_end`: the text is a note, not problems (the store
        /// changed during the run: its totals were not compared).
        pub note: bool,
    }
}

abi::interface! {
    /// The content service. Lease 0 is always the frame (see the crate
    /// doc), read and written; lease 1 the data, when an operation has any.
    pub mod chunk_store {
        /// Creates an empty store inside the delegated transaction; the new
        /// root comes back in the frame.
        fn format = 1 () [0 frame: ReadWrite(FRAME_LEN as u64)] -> Result<(), ContentError>;
        /// Starts a chunk writer of this client; answers its id (at most
        /// `MAX_WRITERS` open at once, else `TooManyWriters`).
        fn writer_start = 2 () [0 frame: ReadWrite(FRAME_LEN as u64)]
            -> Result<u64, ContentError>;
        /// The next bytes of `writer`'s object. The frame gets the new root
        /// and the references of the chunks this call stored, in order: the
        /// piece the writer held (a long push may be answered once its
        /// bytes are in the service, and stored by the writer's next call:
        /// the content service's crate doc), then those this piece
        /// completed unless the service holds it. Answers how many
        /// references. After an error the writer is gone.
        fn push = 3 (writer: u64)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 data: Read(PIECE as u64)]
            -> Result<u64, ContentError>;
        /// Stores `writer`'s held piece and last chunk and ends it; as
        /// `push`: after it every byte pushed is stored.
        fn finish = 4 (writer: u64) [0 frame: ReadWrite(FRAME_LEN as u64)]
            -> Result<u64, ContentError>;
        /// The chunk named in the frame, BLAKE3-verified, into lease 1.
        /// Answers its length.
        fn read_chunk = 5 () [0 frame: ReadWrite(FRAME_LEN as u64), 1 data: Write(MAX_CHUNK as u64)]
            -> Result<u64, ContentError>;
        /// Whether the chunk whose hash is in the frame is stored.
        fn contains = 6 () [0 frame: ReadWrite(FRAME_LEN as u64)] -> Result<bool, ContentError>;
        /// Starts this client's collection over `block_count` blocks: of
        /// `epoch`, or a dry run (then `epoch` is ignored).
        fn gc_start = 7 (epoch: u64, dry_run: bool, block_count: u64)
            [0 frame: ReadWrite(FRAME_LEN as u64)] -> Result<(), ContentError>;
        /// Marks the chunk named in the frame in this client's collection.
        fn mark = 8 () [0 frame: ReadWrite(FRAME_LEN as u64)] -> Result<(), ContentError>;
        /// One sweep step of at most `max_scan` entries (inside the
        /// delegated transaction unless a dry run); the frame gets the root.
        fn sweep_step = 9 (max_scan: u64) [0 frame: ReadWrite(FRAME_LEN as u64)]
            -> Result<SweepStepped, ContentError>;
        /// The extents the store occupies, as (start, len) u64 LE pairs in
        /// lease 1: from the start, or (`resume`) after index key `after`,
        /// the `next` of the previous page (the same root in the frame).
        fn visit_blocks = 10 (resume: bool, after: Hash)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 out: Write((VISIT_MAX * EXTENT_LEN) as u64)]
            -> Result<Visited, ContentError>;
        /// The store's check as text in lease 1 (empty when clean).
        fn check = 11 (verify_data: bool)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 out: Write(CHECK_TEXT_MAX as u64)]
            -> Result<Text, ContentError>;
        /// Ends `writer` without storing its unfinished chunk (its
        /// session was abandoned); an unknown id is not an error.
        fn writer_drop = 12 (writer: u64) -> Result<(), ContentError>;
        /// The service's deterministic counters as text in lease 0: calls
        /// received, bytes copied, calls made to the block service (a
        /// `counters content:` line and a `content calls to block:` line).
        fn stats = 13 () [0 out: Write(CHECK_TEXT_MAX as u64)] -> Result<Text, ContentError>;
        /// Where the chunks named in the frame are stored, for a caller
        /// that reads their blocks itself and verifies them (the
        /// filesystem's batched read path): the extents of the longest
        /// prefix of the references that are stored with their length, as
        /// (start, blocks) u64 LE pairs in lease 1. Answers how many; the
        /// first reference not located is left for `read_chunk`, whose
        /// error names what is wrong with it. No chunk data is read.
        /// One page of this client's check of the store (`content`'s
        /// `check_pages`): with `fresh` a new run over `block_count`
        /// blocks (the last one's state goes), else its next page, on the
        /// root in the frame (the owner's of this moment).
        fn check_page = 25 (fresh: bool, verify_data: bool, block_count: u64)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 out: Write(CHECK_TEXT_MAX as u64)]
            -> Result<CheckedPage, ContentError>;
        /// Ends this client's check: with `unchanged` (the store did not
        /// change since the first page) the whole-store comparisons'
        /// problems, else a note that they were not made.
        fn check_end = 26 (unchanged: bool)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 out: Write(CHECK_TEXT_MAX as u64)]
            -> Result<CheckedPage, ContentError>;
        fn locate = 20 () [0 frame: ReadWrite(FRAME_LEN as u64), 1 out: Write((MAX_REFS * EXTENT_LEN) as u64)]
            -> Result<u64, ContentError>;
        /// Stores a whole object in one call, as `writer_start`, `push`
        /// of the lease and `finish` would (the same chunks, references
        /// and root in the frame, the same errors) without a writer that
        /// outlives the call: after an error nothing of it stays open. A
        /// small put's file costs one call instead of three (issue #13).
        /// Answers how many references.
        fn store_whole = 27 ()
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 data: Read(PIECE as u64)]
            -> Result<u64, ContentError>;
        /// `store_whole` of the first `len` bytes of lease 1, whose
        /// block writes are handed back instead of sent to the block
        /// service: the service writes them over lease 1 (the images, then
        /// their block numbers, one little-endian u64 each with
        /// `block_api`'s `SCATTER_` flags, as `write_scattered` carries
        /// them) and answers how many ([`Whole`]). The caller, holder of
        /// the transaction they were made in, writes them into it
        /// (`block_api::client::write_handed_over`) before its commit,
        /// which carries them (issue #13: one block-service call fewer per
        /// small put). When they do not fit [`FORWARD_IMAGES`] (or some
        /// unjournaled data does not fold into journaled images) the
        /// service sends them itself, as `store_whole` does, and answers
        /// 0 images. Either way they are in the caller's open transaction:
        /// committed with it or aborted with it.
        fn store_whole_forward = 28 (len: u64)
            [0 frame: ReadWrite(FRAME_LEN as u64), 1 data: ReadWrite(FORWARD_LEASE as u64)]
            -> Result<Whole, ContentError>;
    }
}

/// Chunk writers one client can have open at once (each holds at most
/// `MAX_CHUNK` bytes in the service).
pub const MAX_WRITERS: usize = 8;

/// Most extents one `visit_blocks` call returns.
pub const VISIT_MAX: usize = 1024;

/// Largest `check` text buffer.
pub const CHECK_TEXT_MAX: usize = 64 * 1024;

/// Largest data piece of one `push` (and the chunk data of `read_chunk` is at
/// most `MAX_CHUNK`). 1 MiB, the filesystem service's own piece: at 256 KiB
/// a 32 MiB upload took 138 calls, and the chunks that spanned two pieces
/// (0.31 of its bytes) were copied into the writer's buffer (issue #13).
pub const PIECE: usize = 1024 * 1024;

/// Most block images `store_whole_forward` hands back (a small put's are
/// its chunk's blocks and the index nodes the insert rewrote: 2-4).
pub const FORWARD_IMAGES: usize = 32;
/// Bytes of `store_whole_forward`'s lease 1: the object on the way in,
/// [`FORWARD_IMAGES`] images and their block numbers on the way out.
pub const FORWARD_LEASE: usize = FORWARD_IMAGES * (block::BLOCK_SIZE + 8);

/// Bytes of a root.
pub const ROOT_LEN: usize = ContentRoot::ENCODED_LEN;
const OFF_COUNT: usize = ROOT_LEN;
const OFF_REFS: usize = OFF_COUNT + 4;

/// Most references a `push` or `finish` can complete: the piece plus the
/// bytes held from earlier calls (under `MAX_CHUNK`), cut no shorter than
/// `MIN_CHUNK` except the last.
pub const MAX_REFS: usize = (PIECE + MAX_CHUNK).div_ceil(MIN_CHUNK) + 1;

/// Bytes of a frame (lease 0).
pub const FRAME_LEN: usize = OFF_REFS + MAX_REFS * ChunkRef::ENCODED_LEN;

/// Bytes of one extent in `visit_blocks`' and `locate`'s output.
pub const EXTENT_LEN: usize = 16;

/// Why a frame does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooShort { len: usize, need: usize },
    TooManyRefs { count: u32, max: usize },
    BadRef { index: usize },
}

/// A frame error crosses in three words: kind, two values.
impl Words for FrameError {
    const COUNT: usize = 3;
    fn put(&self, out: &mut [u64]) {
        let w = match *self {
            FrameError::TooShort { len, need } => [1, len as u64, need as u64],
            FrameError::TooManyRefs { count, max } => [2, u64::from(count), max as u64],
            FrameError::BadRef { index } => [3, index as u64, 0],
        };
        out.copy_from_slice(&w);
    }
    fn take(words: &[u64]) -> Option<Self> {
        let size = |v: &u64| usize::try_from(*v).ok();
        match words {
            [1, len, need] => Some(FrameError::TooShort {
                len: size(len)?,
                need: size(need)?,
            }),
            [2, count, max] => Some(FrameError::TooManyRefs {
                count: u32::try_from(*count).ok()?,
                max: size(max)?,
            }),
            [3, index, _] => Some(FrameError::BadRef {
                index: size(index)?,
            }),
            _ => None,
        }
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::TooShort { len, need } => write!(f, "frame of {len} bytes, need {need}"),
            FrameError::TooManyRefs { count, max } => {
                write!(f, "frame names {count} references, at most {max}")
            }
            FrameError::BadRef { index } => write!(f, "reference {index} of the frame is invalid"),
        }
    }
}

/// Writes `root` and `refs` into `frame` (at least [`FRAME_LEN`] bytes
/// for `MAX_REFS` references).
pub fn encode_frame(
    frame: &mut [u8],
    root: &[u8; ROOT_LEN],
    refs: &[ChunkRef],
) -> Result<(), FrameError> {
    let need = OFF_REFS + refs.len() * ChunkRef::ENCODED_LEN;
    if refs.len() > MAX_REFS {
        return Err(FrameError::TooManyRefs {
            count: u32::try_from(refs.len()).unwrap_or(u32::MAX),
            max: MAX_REFS,
        });
    }
    if frame.len() < need {
        return Err(FrameError::TooShort {
            len: frame.len(),
            need,
        });
    }
    frame[..ROOT_LEN].copy_from_slice(root);
    frame[OFF_COUNT..OFF_REFS].copy_from_slice(&(refs.len() as u32).to_le_bytes());
    for (i, r) in refs.iter().enumerate() {
        let at = OFF_REFS + i * ChunkRef::ENCODED_LEN;
        frame[at..at + ChunkRef::ENCODED_LEN].copy_from_slice(&r.encode());
    }
    Ok(())
}

/// The root of a frame.
pub fn frame_root(frame: &[u8]) -> Result<[u8; ROOT_LEN], FrameError> {
    let bytes = frame.get(..ROOT_LEN).ok_or(FrameError::TooShort {
        len: frame.len(),
        need: ROOT_LEN,
    })?;
    let mut root = [0u8; ROOT_LEN];
    root.copy_from_slice(bytes);
    Ok(root)
}

/// The references of a frame, each passed to `f` in order.
pub fn frame_refs(frame: &[u8], mut f: impl FnMut(ChunkRef)) -> Result<usize, FrameError> {
    let count_bytes = frame.get(OFF_COUNT..OFF_REFS).ok_or(FrameError::TooShort {
        len: frame.len(),
        need: OFF_REFS,
    })?;
    let mut c = [0u8; 4];
    c.copy_from_slice(count_bytes);
    let count = u32::from_le_bytes(c);
    if count as usize > MAX_REFS {
        return Err(FrameError::TooManyRefs {
            count,
            max: MAX_REFS,
        });
    }
    let n = count as usize;
    for i in 0..n {
        let at = OFF_REFS + i * ChunkRef::ENCODED_LEN;
        let bytes = frame
            .get(at..at + ChunkRef::ENCODED_LEN)
            .ok_or(FrameError::TooShort {
                len: frame.len(),
                need: at + ChunkRef::ENCODED_LEN,
            })?;
        f(ChunkRef::decode(bytes).map_err(|_| FrameError::BadRef { index: i })?);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn frame_round_trips_root_and_references() {
        let root = [7u8; ROOT_LEN];
        let refs: Vec<ChunkRef> = (0..MAX_REFS as u32)
            .map(|i| ChunkRef {
                hash: [i as u8; 32],
                len: i + 1,
            })
            .collect();
        let mut frame = vec![0u8; FRAME_LEN];
        encode_frame(&mut frame, &root, &refs).unwrap();
        assert_eq!(frame_root(&frame).unwrap(), root);
        let mut back = Vec::new();
        assert_eq!(frame_refs(&frame, |r| back.push(r)).unwrap(), refs.len());
        assert_eq!(back, refs);
    }

    #[test]
    fn bad_frames_are_errors_naming_values() {
        let mut frame = vec![0u8; FRAME_LEN];
        frame[OFF_COUNT..OFF_REFS].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            frame_refs(&frame, |_| {}),
            Err(FrameError::TooManyRefs {
                count: 1000,
                max: MAX_REFS
            })
        );
        assert_eq!(
            frame_root(&frame[..10]),
            Err(FrameError::TooShort {
                len: 10,
                need: ROOT_LEN
            })
        );
        let too_many = vec![
            ChunkRef {
                hash: [0; 32],
                len: 1
            };
            MAX_REFS + 1
        ];
        assert!(matches!(
            encode_frame(&mut frame, &[0; ROOT_LEN], &too_many),
            Err(FrameError::TooManyRefs { .. })
        ));
    }

    #[test]
    fn frame_errors_cross_in_their_words() {
        for e in [
            FrameError::TooShort { len: 3, need: 100 },
            FrameError::TooManyRefs {
                count: u32::MAX,
                max: MAX_REFS,
            },
            FrameError::BadRef { index: 7 },
        ] {
            let mut w = [0u64; 3];
            e.put(&mut w);
            assert_eq!(FrameError::take(&w), Some(e));
        }
        assert_eq!(FrameError::take(&[9, 0, 0]), None);
    }
}
