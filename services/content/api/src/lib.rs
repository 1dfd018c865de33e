//! The content-store service's IPC protocol and its client.
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
//! - Per-client sessions, keyed by the caller's badge: one chunk writer
//!   (the bytes of the unfinished chunk, at most `content::MAX_CHUNK`) and
//!   one collection (its marks and sweep position).
//! - Bulk data in lease 1, at most [`PIECE`] bytes per call: memory is
//!   bounded in both processes whatever the object size.
//! - A failed call answers with a status ([`status`]) and the service keeps
//!   the error's text, which names the values seen, per client:
//!   [`ContentRequest::LastError`] fetches it.
//!
//! # Lease 0 layout (the "frame")
//! ```text
//! offset  size              field
//!      0    96  ROOT        the content store's root, in and (mutating
//!                           requests) out
//!     96     4  COUNT       u32 LE: references that follow
//!    100  36*n  REFS        ChunkRef::encode each (hash 32, len u32 LE)
//! ```
//! Requests that name one chunk (`ReadChunk`, `Contains`, `Mark`) send it
//! as the first reference; `Push` and `Finish` get the completed chunks'
//! references back there.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(target_os = "none")]
pub mod client;

use abi::protocol;
use content::{ChunkRef, ContentRoot, MAX_CHUNK, MIN_CHUNK};

protocol! {
    /// Requests to the content service. L0 = the frame (see the crate
    /// doc), L1 = data.
    pub enum ContentRequest {
        /// Creates an empty store inside the delegated transaction; the
        /// new root comes back in L0.
        Format = 1 {},
        /// Starts this client's chunk writer (an unfinished one is dropped).
        WriterStart = 2 {},
        /// L1: the next bytes (at most `PIECE`). Completed chunks are stored
        /// in the delegated transaction; L0 gets the new root and their
        /// references. Replies `[references]`.
        Push = 3 {},
        /// Stores the writer's last chunk; as `Push`.
        Finish = 4 {},
        /// L1 out: the chunk named in L0, BLAKE3-verified. Replies `[len]`.
        ReadChunk = 5 {},
        /// Replies `[1]` when the chunk whose hash is in L0 is stored.
        Contains = 6 {},
        /// Starts this client's collection over `block_count` blocks: of
        /// `epoch`, or a dry run (`dry_run`: then `epoch` is ignored).
        GcStart = 7 { epoch: u64, dry_run: bool, block_count: u64 },
        /// Marks the chunk named in L0 in this client's collection.
        Mark = 8 {},
        /// One sweep step of at most `max_scan` entries (inside the
        /// delegated transaction unless a dry run). L0 gets the new root.
        /// Replies `[done, scanned, chunks, bytes, blocks]` (totals so far).
        SweepStep = 9 { max_scan: u64 },
        /// L1 out: the extents the store occupies, as (start, len) u64 LE
        /// pairs, skipping the first `skip`. Replies `[extents written,
        /// 1 when that was the last of them]`.
        VisitBlocks = 10 { skip: u64 },
        /// L1 out: the store's check as text (empty when clean). Replies
        /// `[bytes written, bytes the full text needs]`.
        Check = 11 { verify_data: bool },
        /// L1 out: the text of this client's last error. Replies
        /// `[bytes written, bytes the full text needs]`.
        LastError = 12 {},
    }
}

/// Largest data piece of one `Push` (and the chunk data of `ReadChunk` is at
/// most `MAX_CHUNK`).
pub const PIECE: usize = 256 * 1024;

/// Bytes of a root.
pub const ROOT_LEN: usize = ContentRoot::ENCODED_LEN;
const OFF_COUNT: usize = ROOT_LEN;
const OFF_REFS: usize = OFF_COUNT + 4;

/// Most references a `Push` or `Finish` can complete: the piece plus the
/// bytes held from earlier calls (under `MAX_CHUNK`), cut no shorter than
/// `MIN_CHUNK` except the last.
pub const MAX_REFS: usize = (PIECE + MAX_CHUNK).div_ceil(MIN_CHUNK) + 1;

/// Bytes of a frame (lease 0).
pub const FRAME_LEN: usize = OFF_REFS + MAX_REFS * ChunkRef::ENCODED_LEN;

/// Bytes of one extent in `VisitBlocks`' output.
pub const EXTENT_LEN: usize = 16;

/// Reply statuses (the reply label) of a failed request.
pub mod status {
    /// The request did not decode.
    pub const BAD_REQUEST: u64 = 100;
    /// A lease was missing, too short, or the caller died.
    pub const BAD_LEASE: u64 = 101;
    /// The frame's root or references did not decode.
    pub const BAD_FRAME: u64 = 102;
    /// `Push`/`Finish` without `WriterStart`, `Mark`/`SweepStep` without
    /// `GcStart`.
    pub const NO_SESSION: u64 = 103;
    /// The content store failed (`content::Error`; text by `LastError`).
    pub const CONTENT: u64 = 104;
}

/// Why a frame does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooShort { len: usize, need: usize },
    TooManyRefs { count: u32, max: usize },
    BadRef { index: usize },
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
    use abi::proto::Wire;
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
    fn requests_round_trip() {
        for r in [
            ContentRequest::Format {},
            ContentRequest::Push {},
            ContentRequest::GcStart {
                epoch: 9,
                dry_run: true,
                block_count: 16384,
            },
            ContentRequest::SweepStep { max_scan: 64 },
            ContentRequest::VisitBlocks { skip: 4096 },
            ContentRequest::Check { verify_data: true },
        ] {
            assert_eq!(ContentRequest::decode(&r.to_message()).unwrap(), r);
        }
    }
}
