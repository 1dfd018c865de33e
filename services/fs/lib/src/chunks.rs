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

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::{Extent, Transactional};
pub use content::ChunkRef;
pub use content::Findings;
pub use content::SweepReport;
use content::{
    ChunkBuf, ChunkMarks, ChunkWriter, ContentStats, ContentStore, GcEpoch, PagedCheck, Sweep,
    CHECK_PAGE_NODES,
};

use crate::error::FsError;
use abi::iface::{CallError, ServiceError, Transport};
use content_api::{ContentClient, ContentError};

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

/// The content store in-process: its state is the `ContentStore` (96 bytes
/// of root); `None` until [`Chunks::format`] or [`Chunks::load`].
#[derive(Default)]
pub struct ChunkStore(Option<ContentStore>);

impl Clone for ChunkStore {
    fn clone(&self) -> Self {
        // The store's whole state is its 96-byte root; a copy is a decode of
        // our own encoding, which cannot fail (ContentRoot round-trip test).
        ChunkStore(
            self.0
                .as_ref()
                .map(|s| ContentStore::open(&s.encode_root()).expect("content root round-trips")),
        )
    }
}

impl ChunkStore {
    /// The store, once formatted or loaded.
    pub fn inner(&self) -> Result<&ContentStore, FsError> {
        self.0.as_ref().ok_or(FsError::ContentNotLoaded)
    }

    fn inner_mut(&mut self) -> Result<&mut ContentStore, FsError> {
        self.0.as_mut().ok_or(FsError::ContentNotLoaded)
    }
}

/// The in-process collection: the marks (one bit per block) and the sweep.
pub struct LocalGc {
    marks: ChunkMarks,
    sweep: Sweep,
}

/// The content store's read buffer (the largest chunk, rounded up to
/// blocks), allocated on first use and kept: one per filesystem.
#[derive(Default)]
pub struct ReadBuf(Option<ChunkBuf>);

impl<T: Transactional> Chunks<T> for ChunkStore {
    type ReadBuf = ReadBuf;
    type Gc = LocalGc;
    type Check = PagedCheck;

    fn format(&mut self, dev: &mut T) -> Result<(), FsError> {
        self.0 = Some(ContentStore::create(dev).map_err(content::Error::from)?);
        Ok(())
    }

    fn load(&mut self, _dev: &mut T, root: &[u8]) -> Result<(), FsError> {
        self.0 = Some(ContentStore::open(root).map_err(FsError::BadContentRoot)?);
        Ok(())
    }

    fn encode_root(&self) -> Vec<u8> {
        self.0
            .as_ref()
            .map(|s| s.encode_root().to_vec())
            .unwrap_or_default()
    }

    fn stats(&self) -> ContentStats {
        self.0.as_ref().map(ContentStore::stats).unwrap_or_default()
    }

    fn writer(&mut self) -> Writer {
        Writer::Local(Box::new(ChunkWriter::new()))
    }

    fn push(
        &mut self,
        dev: &mut T,
        w: &mut Writer,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        let Writer::Local(w) = w else {
            return Err(foreign_writer());
        };
        w.write(self.inner_mut()?, dev, data, |c| refs.push(c))
            .map_err(content::Error::from)?;
        Ok(())
    }

    fn finish(&mut self, dev: &mut T, w: Writer, refs: &mut Vec<ChunkRef>) -> Result<(), FsError> {
        let Writer::Local(w) = w else {
            return Err(foreign_writer());
        };
        w.finish(self.inner_mut()?, dev, |c| refs.push(c))
            .map_err(content::Error::from)?;
        Ok(())
    }

    fn read_chunk(
        &mut self,
        dev: &mut T,
        rb: &mut ReadBuf,
        r: &ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError> {
        let buf = rb.0.get_or_insert_with(ChunkBuf::new);
        let data = self
            .inner()?
            .read_chunk(dev, r, buf)
            .map_err(content::Error::from)?;
        out.clear();
        out.extend_from_slice(data);
        Ok(())
    }

    fn locate(
        &mut self,
        dev: &mut T,
        refs: &[ChunkRef],
        out: &mut Vec<Extent>,
    ) -> Result<(), FsError> {
        // Up to the first chunk not found (or unreadable): its
        // `read_chunk` reports why.
        self.inner()?.locate_many(dev, refs, |e| out.push(e));
        Ok(())
    }

    fn contains(&mut self, dev: &mut T, hash: &[u8; 32]) -> Result<bool, FsError> {
        Ok(self
            .inner()?
            .contains(dev, hash)
            .map_err(content::Error::from)?)
    }

    fn begin_gc(&mut self) -> Result<GcEpoch, FsError> {
        Ok(self.inner_mut()?.begin_gc().map_err(content::Error::from)?)
    }

    fn gc(&mut self, epoch: Option<GcEpoch>, block_count: u64) -> Result<LocalGc, FsError> {
        Ok(LocalGc {
            marks: ChunkMarks::new(block_count),
            sweep: match epoch {
                Some(e) => Sweep::new(e),
                None => Sweep::dry_run(self.inner()?),
            },
        })
    }

    fn mark(&mut self, dev: &mut T, gc: &mut LocalGc, r: &ChunkRef) -> Result<(), FsError> {
        self.inner()?
            .mark(dev, r, &mut gc.marks)
            .map_err(content::Error::from)?;
        Ok(())
    }

    fn sweep_step(
        &mut self,
        dev: &mut T,
        gc: &mut LocalGc,
        max_scan: usize,
    ) -> Result<bool, FsError> {
        self.inner_mut()?
            .sweep_step(dev, &gc.marks, &mut gc.sweep, max_scan)
            .map_err(content::Error::from)?;
        Ok(gc.sweep.is_done())
    }

    fn sweep_report(&self, gc: &LocalGc) -> SweepReport {
        gc.sweep.report
    }

    fn visit_blocks(&mut self, dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError> {
        self.inner()?.visit_blocks(dev, f)?;
        Ok(())
    }

    fn pin_index(&mut self) -> Result<Vec<u8>, FsError> {
        let pinned = self
            .inner_mut()?
            .pin_index()
            .map_err(content::Error::from)?;
        Ok(pinned.encode_root().to_vec())
    }

    fn visit_blocks_page(
        &mut self,
        dev: &mut T,
        root: &[u8],
        after: Option<&[u8; 32]>,
        max: usize,
        f: &mut dyn FnMut(Extent),
    ) -> Result<Option<[u8; 32]>, FsError> {
        let store = ContentStore::open(root).map_err(FsError::BadContentRoot)?;
        Ok(store.visit_blocks_page(dev, after, max, f)?)
    }

    fn check(&mut self, dev: &mut T, verify_data: bool) -> Result<Option<String>, FsError> {
        let report = self.inner()?.check(dev, verify_data);
        Ok(if report.is_clean() {
            None
        } else {
            Some(alloc::format!("{report:?}"))
        })
    }

    fn check_start(&mut self, dev: &mut T, verify_data: bool) -> Result<PagedCheck, FsError> {
        self.inner()?;
        Ok(PagedCheck::new(dev.block_count(), verify_data))
    }

    fn check_page(
        &mut self,
        dev: &mut T,
        run: &mut PagedCheck,
    ) -> Result<(Findings, bool), FsError> {
        let found = self.inner()?.check_page(dev, run, CHECK_PAGE_NODES);
        Ok((found, run.is_done()))
    }

    fn check_end(
        &mut self,
        _dev: &mut T,
        run: PagedCheck,
        unchanged: bool,
    ) -> Result<(Findings, Option<String>), FsError> {
        Ok(self.inner()?.check_end(&run, unchanged))
    }
}

/// A chunk writer in the content service (the unfinished chunk is held
/// there), started by its first `push` or `finish`: its id there.
pub struct RemoteWriter {
    id: Option<u64>,
    /// Ends the service's writer (`writer_drop`) when this value is dropped
    /// unfinished: its upload was abandoned or failed. Best effort: a
    /// service that does not answer has lost its writers anyway.
    release: Option<Box<dyn FnMut(u64)>>,
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        if let (Some(id), Some(release)) = (self.id.take(), self.release.as_mut()) {
            release(id);
        }
    }
}

/// The content service's collection session; the sweep totals so far.
pub struct RemoteGc {
    report: SweepReport,
}

/// A failed content-service call as the filesystem reports it.
fn service_error(e: CallError<ContentError>) -> FsError {
    match e {
        CallError::Kernel(k) => FsError::ContentUnreachable { code: k as u64 },
        // The disk failed under the content service: the block layer's own
        // typed error, as if the filesystem had met it itself.
        CallError::Service(ContentError::Block { fault }) => FsError::Block(fault.0),
        CallError::Service(e) => FsError::ContentService {
            code: e.code(),
            message: e.to_string(),
        },
        CallError::Refused(r) => FsError::ContentService {
            code: r.to_message().label,
            message: alloc::format!("request refused: {r}"),
        },
    }
}

/// The local view of a remote store's root (no I/O: counters, epochs).
fn local<X: Transport>(c: &ContentClient<X>) -> Result<ContentStore, FsError> {
    ContentStore::open(c.root()).map_err(FsError::BadContentRoot)
}

impl<T: Transactional, X: Transport + Clone + 'static> Chunks<T> for ContentClient<X> {
    type ReadBuf = ();
    type Gc = RemoteGc;
    type Check = RemoteCheck;

    fn format(&mut self, _dev: &mut T) -> Result<(), FsError> {
        ContentClient::format(self).map_err(service_error)
    }

    fn load(&mut self, _dev: &mut T, root: &[u8]) -> Result<(), FsError> {
        // Checked here so a bad root is reported at mount, as in-process.
        let store = ContentStore::open(root).map_err(FsError::BadContentRoot)?;
        self.set_root(store.encode_root());
        Ok(())
    }

    fn encode_root(&self) -> Vec<u8> {
        self.root().to_vec()
    }

    fn stats(&self) -> ContentStats {
        local(self).map(|s| s.stats()).unwrap_or_default()
    }

    fn writer(&mut self) -> Writer {
        let mut owner = self.clone();
        Writer::Remote(RemoteWriter {
            id: None,
            release: Some(Box::new(move |id| {
                let _ = owner.writer_drop(id);
            })),
        })
    }

    fn push(
        &mut self,
        _dev: &mut T,
        w: &mut Writer,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        let Writer::Remote(w) = w else {
            return Err(foreign_writer());
        };
        if data.is_empty() {
            return Ok(());
        }
        let id = match w.id {
            Some(id) => id,
            None => {
                let id = self.writer_start().map_err(service_error)?;
                w.id = Some(id);
                id
            }
        };
        ContentClient::push(self, id, data, refs).map_err(|e| {
            // The service dropped the writer with the error.
            w.id = None;
            service_error(e)
        })
    }

    fn finish(&mut self, _dev: &mut T, w: Writer, refs: &mut Vec<ChunkRef>) -> Result<(), FsError> {
        let Writer::Remote(mut w) = w else {
            return Err(foreign_writer());
        };
        // Nothing was pushed: nothing to store, no writer to end.
        let Some(id) = w.id.take() else {
            return Ok(());
        };
        ContentClient::finish(self, id, refs).map_err(service_error)
    }

    fn read_chunk(
        &mut self,
        _dev: &mut T,
        _rb: &mut (),
        r: &ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError> {
        ContentClient::read_chunk(self, r, out).map_err(service_error)
    }

    fn locate(
        &mut self,
        _dev: &mut T,
        refs: &[ChunkRef],
        out: &mut Vec<Extent>,
    ) -> Result<(), FsError> {
        let mut pairs = Vec::with_capacity(refs.len());
        ContentClient::locate(self, refs, &mut pairs).map_err(service_error)?;
        out.extend(
            pairs
                .into_iter()
                .map(|(start, len)| Extent::new(start, len)),
        );
        Ok(())
    }

    fn contains(&mut self, _dev: &mut T, hash: &[u8; 32]) -> Result<bool, FsError> {
        ContentClient::contains(self, hash).map_err(service_error)
    }

    fn begin_gc(&mut self) -> Result<GcEpoch, FsError> {
        let mut store = local(self)?;
        let epoch = store.begin_gc().map_err(content::Error::from)?;
        self.set_root(store.encode_root());
        Ok(epoch)
    }

    fn gc(&mut self, epoch: Option<GcEpoch>, block_count: u64) -> Result<RemoteGc, FsError> {
        self.gc_start(epoch.map(|e| e.0), block_count)
            .map_err(service_error)?;
        Ok(RemoteGc {
            report: SweepReport::default(),
        })
    }

    fn mark(&mut self, _dev: &mut T, _gc: &mut RemoteGc, r: &ChunkRef) -> Result<(), FsError> {
        ContentClient::mark(self, r).map_err(service_error)
    }

    fn sweep_step(
        &mut self,
        _dev: &mut T,
        gc: &mut RemoteGc,
        max_scan: usize,
    ) -> Result<bool, FsError> {
        let s = ContentClient::sweep_step(self, max_scan as u64).map_err(service_error)?;
        gc.report = SweepReport {
            scanned: s.scanned,
            chunks: s.chunks,
            bytes: s.bytes,
            blocks: s.blocks,
        };
        Ok(s.done)
    }

    fn sweep_report(&self, gc: &RemoteGc) -> SweepReport {
        gc.report
    }

    fn visit_blocks(&mut self, _dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError> {
        ContentClient::visit_blocks(self, &mut |start, len| f(Extent::new(start, len)))
            .map_err(service_error)
    }

    fn pin_index(&mut self) -> Result<Vec<u8>, FsError> {
        // The service keeps no root: the pin is a change of ours, which
        // every later request carries (the service then copies the pinned
        // nodes instead of rewriting them).
        let mut store = local(self)?;
        let pinned = store.pin_index().map_err(content::Error::from)?;
        self.set_root(store.encode_root());
        Ok(pinned.encode_root().to_vec())
    }

    fn visit_blocks_page(
        &mut self,
        _dev: &mut T,
        root: &[u8],
        after: Option<&[u8; 32]>,
        max: usize,
        f: &mut dyn FnMut(Extent),
    ) -> Result<Option<[u8; 32]>, FsError> {
        let root = ContentStore::open(root)
            .map_err(FsError::BadContentRoot)?
            .encode_root();
        let next = ContentClient::visit_blocks_page(
            self,
            &root,
            after.map(|h| content_api::Hash(*h)),
            max,
            &mut |start, len| f(Extent::new(start, len)),
        )
        .map_err(service_error)?;
        Ok(next.map(|h| h.0))
    }

    fn check(&mut self, _dev: &mut T, verify_data: bool) -> Result<Option<String>, FsError> {
        ContentClient::check(self, verify_data).map_err(service_error)
    }

    fn check_start(&mut self, dev: &mut T, verify_data: bool) -> Result<RemoteCheck, FsError> {
        Ok(RemoteCheck {
            verify_data,
            block_count: dev.block_count(),
            started: false,
        })
    }

    fn check_page(
        &mut self,
        _dev: &mut T,
        run: &mut RemoteCheck,
    ) -> Result<(Findings, bool), FsError> {
        let fresh = !run.started;
        let (texts, count, done) =
            ContentClient::check_page(self, fresh, run.verify_data, run.block_count)
                .map_err(service_error)?;
        run.started = true;
        Ok((Findings { count, texts }, done))
    }

    fn check_end(
        &mut self,
        _dev: &mut T,
        _run: RemoteCheck,
        unchanged: bool,
    ) -> Result<(Findings, Option<String>), FsError> {
        let (texts, count, note) =
            ContentClient::check_end(self, unchanged).map_err(service_error)?;
        Ok((Findings { count, texts }, note))
    }
}

/// A check in pages in the content service (its state is kept there, by
/// client): what its first page starts.
pub struct RemoteCheck {
    verify_data: bool,
    block_count: u64,
    started: bool,
}
