//! Scenario: the content store (inside the system, another process) hands
//! back a content root that is not one (bad checksum, an index root past
//! the end of the device) or chunk bytes that are not the chunk asked for
//! (right length, wrong bytes), or locates chunks where they are not (the
//! batched read path reads those blocks itself). The filesystem must refuse
//! to store such a root (the operation fails, nothing changes, the old root
//! stays and the next mount works) and must not return such bytes to a
//! reader.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use block::{BlockStore, Config, Extent, MemDevice, Transactional};
use content::{ContentRoot, ContentStats, GcEpoch, SweepReport};
use filesystem::chunks::{LocalGc, ReadBuf};
use filesystem::{ChunkStore, Chunks, Fs, FsError};

type Store = BlockStore<MemDevice>;

/// What the liar does wrong, switched on by the test.
#[derive(Clone, Copy, PartialEq)]
enum Lie {
    None,
    RootChecksum,
    RootPastDevice,
    ChunkBytes,
    Locations,
}

/// The in-process store, with a switch to lie.
#[derive(Clone)]
struct Liar {
    inner: ChunkStore,
    lie: Rc<Cell<Lie>>,
}

impl<T: Transactional> Chunks<T> for Liar {
    type ReadBuf = ReadBuf;
    type Gc = LocalGc;
    type Check = content::PagedCheck;

    fn format(&mut self, dev: &mut T) -> Result<(), FsError> {
        Chunks::<T>::format(&mut self.inner, dev)
    }
    fn load(&mut self, dev: &mut T, root: &[u8]) -> Result<(), FsError> {
        Chunks::<T>::load(&mut self.inner, dev, root)
    }
    fn encode_root(&self) -> Vec<u8> {
        let mut root = Chunks::<T>::encode_root(&self.inner);
        match self.lie.get() {
            Lie::RootChecksum => root[90] ^= 1,
            Lie::RootPastDevice => {
                let mut r = ContentRoot::decode(&root).unwrap();
                r.index.block = 1 << 40;
                root = r.encode().to_vec();
            }
            _ => {}
        }
        root
    }
    fn stats(&self) -> ContentStats {
        Chunks::<T>::stats(&self.inner)
    }
    fn writer(&mut self) -> filesystem::chunks::Writer {
        Chunks::<T>::writer(&mut self.inner)
    }
    fn push(
        &mut self,
        dev: &mut T,
        w: &mut filesystem::chunks::Writer,
        data: &[u8],
        refs: &mut Vec<content::ChunkRef>,
    ) -> Result<(), FsError> {
        self.inner.push(dev, w, data, refs)
    }
    fn finish(
        &mut self,
        dev: &mut T,
        w: filesystem::chunks::Writer,
        refs: &mut Vec<content::ChunkRef>,
    ) -> Result<(), FsError> {
        self.inner.finish(dev, w, refs)
    }
    fn read_chunk(
        &mut self,
        dev: &mut T,
        rb: &mut ReadBuf,
        r: &content::ChunkRef,
        out: &mut Vec<u8>,
    ) -> Result<(), FsError> {
        self.inner.read_chunk(dev, rb, r, out)?;
        if self.lie.get() == Lie::ChunkBytes {
            out[0] ^= 0x55;
        }
        Ok(())
    }
    fn locate(
        &mut self,
        dev: &mut T,
        refs: &[content::ChunkRef],
        out: &mut Vec<Extent>,
    ) -> Result<(), FsError> {
        match self.lie.get() {
            // Nothing located: every chunk goes through `read_chunk`, the
            // path whose bytes this liar damages.
            Lie::ChunkBytes => Ok(()),
            Lie::Locations => {
                let mut honest = Vec::new();
                self.inner.locate(dev, refs, &mut honest)?;
                out.extend(honest.iter().map(|e| Extent::new(e.start + 1, e.len)));
                Ok(())
            }
            _ => self.inner.locate(dev, refs, out),
        }
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
    fn mark(
        &mut self,
        dev: &mut T,
        gc: &mut LocalGc,
        r: &content::ChunkRef,
    ) -> Result<(), FsError> {
        self.inner.mark(dev, gc, r)
    }
    fn sweep_step(&mut self, dev: &mut T, gc: &mut LocalGc, max: usize) -> Result<bool, FsError> {
        self.inner.sweep_step(dev, gc, max)
    }
    fn sweep_report(&self, gc: &LocalGc) -> SweepReport {
        Chunks::<T>::sweep_report(&self.inner, gc)
    }
    fn pin_index(&mut self) -> Result<Vec<u8>, FsError> {
        Chunks::<T>::pin_index(&mut self.inner)
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
    fn visit_blocks(&mut self, dev: &mut T, f: &mut dyn FnMut(Extent)) -> Result<(), FsError> {
        self.inner.visit_blocks(dev, f)
    }
    fn check(&mut self, dev: &mut T, verify: bool) -> Result<Option<String>, FsError> {
        self.inner.check(dev, verify)
    }
    fn check_start(&mut self, dev: &mut T, verify: bool) -> Result<Self::Check, FsError> {
        self.inner.check_start(dev, verify)
    }
    fn check_page(
        &mut self,
        dev: &mut T,
        run: &mut Self::Check,
    ) -> Result<(filesystem::Findings, bool), FsError> {
        self.inner.check_page(dev, run)
    }
    fn check_end(
        &mut self,
        dev: &mut T,
        run: Self::Check,
        unchanged: bool,
    ) -> Result<(filesystem::Findings, Option<String>), FsError> {
        self.inner.check_end(dev, run, unchanged)
    }
}

#[test]
fn lying_content_store_is_caught() {
    let lie = Rc::new(Cell::new(Lie::None));
    let liar = Liar {
        inner: ChunkStore::default(),
        lie: lie.clone(),
    };
    let store = Store::format(MemDevice::new(8192), Config::default()).unwrap();
    let mut fs = Fs::open_with(store, 0, liar).unwrap();
    fs.check_received_chunks(true);
    let data = common::noise(7, 50_000);
    fs.write_file("/a", &data).unwrap();

    for bad in [Lie::RootChecksum, Lie::RootPastDevice] {
        lie.set(bad);
        let e = fs.write_file("/b", b"more").unwrap_err();
        assert!(matches!(e, FsError::ContentRootRejected { .. }), "{e}");
        assert!(e.to_string().contains("bad root"), "{e}");
        assert!(!fs.exists("/b").unwrap(), "a refused root left /b behind");
    }
    if let Err(FsError::ContentRootRejected { problem }) = {
        lie.set(Lie::RootPastDevice);
        fs.mkdir("/d")
    } {
        assert!(
            problem.contains("past") || problem.contains("block"),
            "{problem}"
        );
    } else {
        panic!("a root past the device was stored");
    }

    lie.set(Lie::ChunkBytes);
    let ino = fs.stat("/a").unwrap().ino;
    let mut buf = vec![0u8; 1000];
    let e = fs.read_at(ino, 0, &mut buf).unwrap_err();
    assert!(e.to_string().contains("bad chunk"), "{e}");

    // Wrong extents: the blocks read there do not hash to the chunk ids,
    // so each chunk goes through the store's own read, and the reader gets
    // the file's bytes.
    lie.set(Lie::Locations);
    let fetched_one = fs.read_counts().one_chunk;
    let mut all = vec![0u8; data.len()];
    assert_eq!(fs.read_at(ino, 0, &mut all).unwrap(), data.len());
    assert_eq!(all, data);
    assert!(
        fs.read_counts().one_chunk > fetched_one,
        "fell back to read_chunk"
    );

    // Honest again: the old state is intact and survives a remount.
    lie.set(Lie::None);
    fs.write_file("/b", b"more").unwrap();
    let image = fs.into_device().unmount().unwrap().into_image();
    let store = Store::mount(MemDevice::from_image(image), Config::default()).unwrap();
    let mut fs = Fs::open(store, 0).unwrap();
    assert_eq!(fs.read_file("/a", u64::MAX).unwrap(), data);
    assert_eq!(fs.read_file("/b", 10).unwrap(), b"more");
}
