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

use block::{BlockStore, Config, Extent, MemDevice};
use common::twisted::{Twist, Twisted};
use content::ContentRoot;
use filesystem::{Fs, FsError};

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
    lie: Rc<Cell<Lie>>,
}

impl Twist for Liar {
    fn root(&self, mut root: Vec<u8>) -> Vec<u8> {
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
    fn chunk_bytes(&self, chunk: &mut [u8]) {
        if self.lie.get() == Lie::ChunkBytes {
            chunk[0] ^= 0x55;
        }
    }
    fn locations(&self, honest: Vec<Extent>) -> Vec<Extent> {
        match self.lie.get() {
            // Nothing located: every chunk goes through `read_chunk`, the
            // path whose bytes this liar damages.
            Lie::ChunkBytes => Vec::new(),
            Lie::Locations => honest
                .iter()
                .map(|e| Extent::new(e.start + 1, e.len))
                .collect(),
            _ => honest,
        }
    }
}

#[test]
fn lying_content_store_is_caught() {
    let lie = Rc::new(Cell::new(Lie::None));
    let liar = Twisted::new(Liar { lie: lie.clone() });
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
