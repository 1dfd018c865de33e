//! The filesystem's use of the content store: the persistent handle kept
//! in the root block, streaming chunk writes, verified chunk reads.

use alloc::vec::Vec;

use block::Transactional;
pub use content::ChunkRef;
use content::{ChunkBuf, ChunkWriter, ContentStore};

use crate::error::FsError;

/// The content store's state, as the filesystem holds it.
pub struct ChunkStore(pub(crate) ContentStore);

impl Clone for ChunkStore {
    fn clone(&self) -> Self {
        // The store's whole state is its 96-byte root; a copy is a decode of
        // our own encoding, which cannot fail (ContentRoot round-trip test).
        ChunkStore(ContentStore::open(&self.0.encode_root()).expect("content root round-trips"))
    }
}

impl ChunkStore {
    pub fn create<T: Transactional>(dev: &mut T) -> Result<ChunkStore, FsError> {
        Ok(ChunkStore(
            ContentStore::create(dev).map_err(content::Error::from)?,
        ))
    }

    pub fn open<T: Transactional>(_dev: &mut T, bytes: &[u8]) -> Result<ChunkStore, FsError> {
        ContentStore::open(bytes)
            .map(ChunkStore)
            .map_err(FsError::BadContentRoot)
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.encode_root().to_vec()
    }

    pub fn writer(&self) -> Writer {
        Writer(ChunkWriter::new())
    }

    pub fn inner(&self) -> &ContentStore {
        &self.0
    }
}

/// A streaming chunk writer for one region of a file.
pub struct Writer(ChunkWriter);

impl Writer {
    pub fn push<T: Transactional>(
        &mut self,
        dev: &mut T,
        store: &mut ChunkStore,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        self.0
            .write(&mut store.0, dev, data, |c| refs.push(c))
            .map_err(content::Error::from)?;
        Ok(())
    }

    pub fn finish<T: Transactional>(
        self,
        dev: &mut T,
        store: &mut ChunkStore,
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), FsError> {
        self.0
            .finish(&mut store.0, dev, |c| refs.push(c))
            .map_err(content::Error::from)?;
        Ok(())
    }
}

/// The content store's read buffer (the largest chunk, rounded up to
/// blocks), allocated on first use and kept: one per filesystem.
#[derive(Default)]
pub struct ReadBuf(Option<ChunkBuf>);

/// Reads chunk `r` into `out` (replacing its contents), BLAKE3-verified.
pub fn read_chunk<T: Transactional>(
    dev: &mut T,
    store: &mut ChunkStore,
    r: &ChunkRef,
    rb: &mut ReadBuf,
    out: &mut Vec<u8>,
) -> Result<(), FsError> {
    let buf = rb.0.get_or_insert_with(ChunkBuf::new);
    let data = store
        .0
        .read_chunk(dev, r, buf)
        .map_err(content::Error::from)?;
    out.clear();
    out.extend_from_slice(data);
    Ok(())
}
