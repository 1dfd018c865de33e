//! The filesystem's use of the content store, as a trait: [`Chunks`].
//!
//! The filesystem owns transactions and roots; the content store does its
//! block reads and writes inside the transaction the filesystem has open
//! (`dev`), and its whole persistent state is its root
//! (`content::ContentRoot`, kept in the filesystem's root block). Two
//! implementations:
//! - [`ChunkStore`]: the `content` library in-process (the host tests, and
//!   any single-process use);
//! - `content_api::ContentClient`: the content service over IPC, which
//!   works inside the same block transaction (the block service lets the fs
//!   service delegate its open transaction to it). The adapter is here, at
//!   the end: the content service's client knows nothing of the filesystem
//!   (its errors are its own `ContentError`, turned into `FsError` here).
//!
//! # Invariants
//! - A `Chunks` value is the content store's state as of the filesystem's
//!   in-memory state: cloning it is how a failed operation is undone, so an
//!   implementation keeps no other per-operation state in itself (a chunk
//!   writer and a collection are separate values: [`Writer`],
//!   [`Chunks::Gc`]).
//! - A [`Writer`] may stay open across transactions (an upload keeps its
//!   chunker open across pieces: `crate::stream`); after any error in a
//!   transaction that used it, it is dropped, never fed again. Dropping an
//!   unfinished remote writer ends it in the content service too.
//! - A remote writer fed at most [`KEEP_MAX`] bytes keeps them in
//!   itself and has no writer in the service yet: dropping it makes no
//!   call, and its `finish` stores them with one `store_whole`, after
//!   which (answer or error) nothing of it is open in the service. Its
//!   bytes are in memory only, as the service's unfinished chunk is: a
//!   transaction commits none of them before a push that passes the bound
//!   or the `finish` stores them (as with any writer, the references of a
//!   push may come with a later call), and cloning the `Chunks` value
//!   neither copies nor loses them (they are the writer's, not the store's).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use block::{Extent, Transactional};
pub use content::ChunkRef;
pub use content::Findings;
pub use content::SweepReport;
use content::{ChunkWriter, ContentStats, GcEpoch};

use crate::error::FsError;

mod local;
mod remote;

pub use local::{ChunkStore, LocalGc, ReadBuf};
pub use remote::{RemoteCheck, RemoteGc, RemoteWriter, KEEP_MAX};

/// The content store as the filesystem uses it, over the block store `T`.
pub trait Chunks<T: Transactional>: Clone {
    /// Working memory for chunk reads (kept by the filesystem, not cloned).
    type ReadBuf: Default;
    /// A collection in progress: its marks and sweep position.
    type Gc;
    /// A check of the store in pages in progress (`content`'s
    /// `check_pages`: its position and what it keeps for the end).
    type Check;

    /// Creates an empty store in the open transaction.
    fn format(&mut self, dev: &mut T) -> Result<(), FsError>;
    /// Takes the state persisted in `root` (from [`Chunks::encode_root`]).
    fn load(&mut self, dev: &mut T, root: &[u8]) -> Result<(), FsError>;
    /// The state to persist with each commit.
    fn encode_root(&self) -> Vec<u8>;
    /// Space used, from the store's counters.
    fn stats(&self) -> ContentStats;

    /// A new streaming writer of one object (or region of a file).
    fn writer(&mut self) -> Writer;
    /// Feeds `data`; every chunk it completes is stored and its reference
    /// appended to `refs`.
    fn push(
        &mut self,
        dev: &mut T,
        w: &mut Writer,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError>;
    /// Stores the last, possibly short, chunk.
    fn finish(&mut self, dev: &mut T, w: Writer, refs: &mut Vec<ChunkRef>) -> Result<(), FsError>;

    /// Reads chunk `r` into `out` (replacing its contents), BLAKE3-verified.
    fn read_chunk(
        &mut self,
        dev: &mut T,
        rb: &mut Self::ReadBuf,
        r: &ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError>;
    /// Where chunks are stored, for a reader that reads their blocks
    /// itself (`Fs::read_to`): appends the extents of the longest prefix
    /// of `refs` the store finds (stored, with the referenced length) to
    /// `out`. Nothing is read or verified here: the reader must hash what
    /// it reads against each reference. The default locates nothing, so
    /// every chunk goes through [`Chunks::read_chunk`].
    fn locate(
        &mut self,
        _dev: &mut T,
        _refs: &[ChunkRef],
        _out: &mut Vec<Extent>,
    ) -> Result<(), FsError> {
        Ok(())
    }
    /// True when a chunk with this hash is stored.
    fn contains(&mut self, dev: &mut T, hash: &[u8; 32]) -> Result<bool, FsError>;

    /// Starts a collection's new epoch (call inside a transaction: the root
    /// changes).
    fn begin_gc(&mut self) -> Result<GcEpoch, FsError>;
    /// A collection over `block_count` blocks: from `epoch`, or a dry run.
    fn gc(&mut self, epoch: Option<GcEpoch>, block_count: u64) -> Result<Self::Gc, FsError>;
    /// Marks chunk `r` as still referenced.
    fn mark(&mut self, dev: &mut T, gc: &mut Self::Gc, r: &ChunkRef) -> Result<(), FsError>;
    /// One sweep step of at most `max_scan` index entries; true when done.
    fn sweep_step(
        &mut self,
        dev: &mut T,
        gc: &mut Self::Gc,
        max_scan: usize,
    ) -> Result<bool, FsError>;
    /// What the sweep freed (would free) so far.
    fn sweep_report(&self, gc: &Self::Gc) -> SweepReport;

    /// Calls `f` with every extent the store occupies (index nodes, chunks).
    fn visit_blocks(&mut self, dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError>;
    /// Pins the index for a walk spread over transactions (the block GC's
    /// reach, `crate::gc_reach`): a copy-on-write snapshot of its root, so
    /// that from now on every change copies the nodes it shares with the
    /// pin instead of rewriting them. Call inside a transaction (the root
    /// changes). Answers the pinned root, for [`Chunks::visit_blocks_page`];
    /// dropping it is the unpin.
    fn pin_index(&mut self) -> Result<Vec<u8>, FsError>;
    /// One page of [`Chunks::visit_blocks`] of the store at `root` (a
    /// [`Chunks::pin_index`]): at most `max` extents (at least one index
    /// entry's) after index key `after`; the cursor of the next page, or
    /// `None` when the walk is done.
    fn visit_blocks_page(
        &mut self,
        dev: &mut T,
        root: &[u8],
        after: Option<&[u8; 32]>,
        max: usize,
        f: &mut dyn FnMut(Extent),
    ) -> Result<Option<[u8; 32]>, FsError>;
    /// The store's own check; `None` when clean, else the problems as text.
    fn check(&mut self, dev: &mut T, verify_data: bool) -> Result<Option<String>, FsError>;
    /// Starts a check of the store in pages.
    fn check_start(&mut self, dev: &mut T, verify_data: bool) -> Result<Self::Check, FsError>;
    /// The next page of `run` on the store as it is now (a bounded number
    /// of index nodes); its problems, and whether it was the last page.
    fn check_page(
        &mut self,
        dev: &mut T,
        run: &mut Self::Check,
    ) -> Result<(Findings, bool), FsError>;
    /// Ends `run`: with `unchanged` (the store did not change since its
    /// first page) the whole-store comparisons' problems, else a note.
    fn check_end(
        &mut self,
        dev: &mut T,
        run: Self::Check,
        unchanged: bool,
    ) -> Result<(Findings, Option<String>), FsError>;
}

/// A streaming chunk writer: the chunker's state and the bytes of the
/// unfinished chunk, wherever the store keeps them.
pub enum Writer {
    /// In-process ([`ChunkStore`]).
    Local(Box<ChunkWriter>),
    /// In the content service ([`ContentClient`]).
    Remote(RemoteWriter),
}

impl core::fmt::Debug for Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Writer::Local(w) => write!(f, "Writer::Local({} bytes)", w.bytes_written()),
            Writer::Remote(w) => write!(f, "Writer::Remote({:?})", w.id),
        }
    }
}

/// A writer of one store handed to another: a bug of the caller.
fn foreign_writer() -> FsError {
    FsError::Corrupt {
        what: "a chunk writer of another kind of content store",
        ino: 0,
    }
}
