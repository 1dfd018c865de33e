//! [`ChunkStore`]: the `content` library in-process, as [`Chunks`] (the
//! host tests, and any single-process use).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use block::{Extent, Transactional};
use content::{
    ChunkBuf, ChunkMarks, ChunkWriter, ContentStats, ContentStore, GcEpoch, PagedCheck, Sweep,
    CHECK_PAGE_NODES,
};

use super::{foreign_writer, ChunkRef, Chunks, Findings, SweepReport, Writer};
use crate::error::FsError;

/// The content store in-process: its state is the `ContentStore` (96 bytes
/// of root); `None` until [`Chunks::format`] or [`Chunks::load`]. With
/// [`ChunkStore::holding_pieces`] it pushes as the content service does
/// with a long piece (`ChunkWriter::take_with`: held, stored by the
/// writer's next call), so the host tests run the filesystem against
/// references that come one call late.
#[derive(Default)]
pub struct ChunkStore(Option<ContentStore>, Option<usize>);

impl Clone for ChunkStore {
    fn clone(&self) -> Self {
        // The store's whole state is its 96-byte root; a copy is a decode of
        // our own encoding, which cannot fail (ContentRoot round-trip test).
        ChunkStore(
            self.0
                .as_ref()
                .map(|s| ContentStore::open(&s.encode_root()).expect("content root round-trips")),
            self.1,
        )
    }
}

impl ChunkStore {
    /// A store that holds each pushed piece of `min` bytes or more until
    /// the writer's next call, as the content service does.
    pub fn holding_pieces(min: usize) -> Self {
        ChunkStore(None, Some(min))
    }

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
        let hold = self.1.is_some_and(|min| data.len() >= min);
        let store = self.inner_mut()?;
        if !hold {
            w.write(store, dev, data, |c| refs.push(c))
                .map_err(content::Error::from)?;
            return Ok(());
        }
        let (_, buf) = w
            .settle(store, dev, &mut |c| refs.push(c))
            .map_err(content::Error::from)?;
        w.take_with::<_, content::PutError>(
            store,
            dev,
            buf.unwrap_or_default(),
            data.len(),
            |off, into| {
                into.copy_from_slice(&data[off..off + into.len()]);
                Ok(())
            },
            |c| refs.push(c),
        )
        .map_err(content::Error::from)?;
        // The service's work after its answer.
        w.hash_held();
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
