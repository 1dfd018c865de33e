//! [`Twisted`]: the in-process content store with hooks a test switches
//! on to make it misbehave (hand back a bad root, damage chunk bytes,
//! locate chunks where they are not, "pin" without pinning). Each hook's
//! default is honest, so a test states only what it twists; every other
//! `Chunks` method forwards to the honest store.

use block::{Extent, Transactional};
use content::{ChunkRef, ContentStats, GcEpoch, PagedCheck, SweepReport};
use filesystem::chunks::{LocalGc, ReadBuf, Writer};
use filesystem::{ChunkStore, Chunks, Findings, FsError};

/// How a [`Twisted`] store departs from the honest one.
pub trait Twist: Clone {
    /// The content root handed back, given the honest one.
    fn root(&self, honest: Vec<u8>) -> Vec<u8> {
        honest
    }
    /// Changes the bytes of a chunk just read.
    fn chunk_bytes(&self, _chunk: &mut [u8]) {}
    /// The extents `locate` answers, given the honest ones.
    fn locations(&self, honest: Vec<Extent>) -> Vec<Extent> {
        honest
    }
    /// Whether `pin_index` pins (else it hands back the root unpinned).
    fn pins(&self) -> bool {
        true
    }
}

/// The honest in-process store twisted by `twist`.
#[derive(Clone)]
pub struct Twisted<W> {
    pub inner: ChunkStore,
    pub twist: W,
}

impl<W> Twisted<W> {
    pub fn new(twist: W) -> Self {
        Twisted {
            inner: ChunkStore::default(),
            twist,
        }
    }
}

impl<T: Transactional, W: Twist> Chunks<T> for Twisted<W> {
    type ReadBuf = ReadBuf;
    type Gc = LocalGc;
    type Check = PagedCheck;

    fn format(&mut self, dev: &mut T) -> Result<(), FsError> {
        Chunks::<T>::format(&mut self.inner, dev)
    }
    fn load(&mut self, dev: &mut T, root: &[u8]) -> Result<(), FsError> {
        Chunks::<T>::load(&mut self.inner, dev, root)
    }
    fn encode_root(&self) -> Vec<u8> {
        self.twist.root(Chunks::<T>::encode_root(&self.inner))
    }
    fn stats(&self) -> ContentStats {
        Chunks::<T>::stats(&self.inner)
    }
    fn writer(&mut self) -> Writer {
        Chunks::<T>::writer(&mut self.inner)
    }
    fn push(
        &mut self,
        dev: &mut T,
        w: &mut Writer,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        self.inner.push(dev, w, data, refs)
    }
    fn finish(&mut self, dev: &mut T, w: Writer, refs: &mut Vec<ChunkRef>) -> Result<(), FsError> {
        self.inner.finish(dev, w, refs)
    }
    fn read_chunk(
        &mut self,
        dev: &mut T,
        rb: &mut ReadBuf,
        r: &ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError> {
        self.inner.read_chunk(dev, rb, r, out)?;
        self.twist.chunk_bytes(out);
        Ok(())
    }
    fn locate(
        &mut self,
        dev: &mut T,
        refs: &[ChunkRef],
        out: &mut Vec<Extent>,
    ) -> Result<(), FsError> {
        let mut honest = Vec::new();
        self.inner.locate(dev, refs, &mut honest)?;
        out.extend(self.twist.locations(honest));
        Ok(())
    }
    fn contains(&mut self, dev: &mut T, hash: &[u8; 32]) -> Result<bool, FsError> {
        self.inner.contains(dev, hash)
    }
    fn begin_gc(&mut self) -> Result<GcEpoch, FsError> {
        Chunks::<T>::begin_gc(&mut self.inner)
    }
    fn gc(&mut self, epoch: Option<GcEpoch>, block_count: u64) -> Result<LocalGc, FsError> {
        Chunks::<T>::gc(&mut self.inner, epoch, block_count)
    }
    fn mark(&mut self, dev: &mut T, gc: &mut LocalGc, r: &ChunkRef) -> Result<(), FsError> {
        self.inner.mark(dev, gc, r)
    }
    fn sweep_step(&mut self, dev: &mut T, gc: &mut LocalGc, max: usize) -> Result<bool, FsError> {
        self.inner.sweep_step(dev, gc, max)
    }
    fn sweep_report(&self, gc: &LocalGc) -> SweepReport {
        Chunks::<T>::sweep_report(&self.inner, gc)
    }
    fn visit_blocks(&mut self, dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError> {
        self.inner.visit_blocks(dev, f)
    }
    fn pin_index(&mut self) -> Result<Vec<u8>, FsError> {
        if self.twist.pins() {
            Chunks::<T>::pin_index(&mut self.inner)
        } else {
            Ok(Chunks::<T>::encode_root(&self.inner))
        }
    }
    fn visit_blocks_page(
        &mut self,
        dev: &mut T,
        root: &[u8],
        after: Option<&[u8; 32]>,
        max: usize,
        f: &mut dyn FnMut(Extent),
    ) -> Result<Option<[u8; 32]>, FsError> {
        self.inner.visit_blocks_page(dev, root, after, max, f)
    }
    fn check(&mut self, dev: &mut T, verify: bool) -> Result<Option<String>, FsError> {
        self.inner.check(dev, verify)
    }
    fn check_start(&mut self, dev: &mut T, verify: bool) -> Result<PagedCheck, FsError> {
        self.inner.check_start(dev, verify)
    }
    fn check_page(
        &mut self,
        dev: &mut T,
        run: &mut PagedCheck,
    ) -> Result<(Findings, bool), FsError> {
        self.inner.check_page(dev, run)
    }
    fn check_end(
        &mut self,
        dev: &mut T,
        run: PagedCheck,
        unchanged: bool,
    ) -> Result<(Findings, Option<String>), FsError> {
        self.inner.check_end(dev, run, unchanged)
    }
}
