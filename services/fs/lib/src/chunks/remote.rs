//! The content service over IPC as [`Chunks`]: the adapter of
//! `content_api::ContentClient` (which knows nothing of the filesystem: its
//! `ContentError`s become `FsError`s here), its remote writer, collection
//! and check in pages.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::{Extent, Transactional};
use content::{ContentStats, ContentStore, GcEpoch};

use super::{foreign_writer, ChunkRef, Chunks, Findings, SweepReport, Writer};
use crate::error::FsError;
use abi::iface::{CallError, ServiceError, Transport};
use content_api::{ContentClient, ContentError};

/// Most bytes a [`RemoteWriter`] keeps itself before it starts its writer
/// in the content service. A small put's files (a 4 KiB blob's data, its
/// repository link) then cost one `store_whole` call each instead of
/// `writer_start`, `push` and `finish` (issue #13: every call switches
/// address spaces, which under QEMU TCG flushes its soft TLB). 64 KiB:
/// the copy is short beside a call, and it is a sixteenth of
/// `fs_api::PIECE`, so a large upload's pieces (held by the service,
/// overlapped with the fs's SHA-256) never stay here.
pub const KEEP_MAX: usize = 64 * 1024;

/// A chunk writer of the content service. Until its bytes pass
/// [`KEEP_MAX`] it keeps them itself (`kept`), and `finish` stores them
/// with one `store_whole`; past it (or at a push that would pass it) it
/// starts the service's writer, pushes the kept bytes, then the new ones,
/// in order, so the chunks are those of one write of the whole object.
/// The service then holds the unfinished chunk; `id` is its writer there.
pub struct RemoteWriter {
    pub(super) id: Option<u64>,
    /// Bytes fed and not sent yet (only while `id` is `None`). Like the
    /// service's unfinished chunk, they are in memory only: the caller
    /// commits nothing of them before a push or `finish` stores them.
    kept: Vec<u8>,
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
            kept: Vec::new(),
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
            None if w.kept.len() + data.len() <= KEEP_MAX => {
                // No call: `finish` may store it all at once.
                w.kept.extend_from_slice(data);
                return Ok(());
            }
            None => {
                let id = self.writer_start().map_err(service_error)?;
                w.id = Some(id);
                id
            }
        };
        let kept = core::mem::take(&mut w.kept);
        let pushed = if kept.is_empty() {
            Ok(())
        } else {
            ContentClient::push(self, id, &kept, refs)
        };
        pushed
            .and_then(|()| ContentClient::push(self, id, data, refs))
            .map_err(|e| {
                // The service dropped the writer with the error.
                w.id = None;
                service_error(e)
            })
    }

    fn finish(&mut self, dev: &mut T, w: Writer, refs: &mut Vec<ChunkRef>) -> Result<(), FsError> {
        let Writer::Remote(mut w) = w else {
            return Err(foreign_writer());
        };
        // Never started: the kept bytes (if any) in one call, which
        // leaves nothing open in the service whatever it answers. Its
        // block writes come back with the answer and go into our open
        // transaction here (`dev`, the device the service writes through
        // too, not the node cache): the block client gathers them and our
        // commit carries them, one block-service call fewer (issue #13).
        let Some(id) = w.id.take() else {
            let kept = core::mem::take(&mut w.kept);
            return ContentClient::store_whole_forward(self, &kept, refs, &mut |images, at| {
                content_api::write_handed_over(dev, images, at)
            })
            .map_err(service_error);
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
