//! Locating many chunks at once ([`ContentStore::locate_many`]) for a
//! reader that reads their blocks itself and verifies them. The lookups of
//! one call share the index nodes they read ([`Memo`]): a batch of chunks
//! of one read walks the same root and inner nodes, so each node is read
//! once per call, as the content service's per-request cache does.

use alloc::boxed::Box;
use alloc::vec::Vec;

use block::{Durability, Error, Extent, Transactional, BLOCK_SIZE};

use crate::chunk_ref::ChunkRef;
use crate::store::ContentStore;

/// Single-block reads of one call, kept for that call only (it reads and
/// never writes, so nothing can change them meanwhile); everything else
/// goes through. Bounded by the nodes the call's lookups visit.
struct Memo<'a, T> {
    tx: &'a mut T,
    blocks: Vec<(u64, Box<[u8]>)>,
}

impl<T: Transactional> Transactional for Memo<'_, T> {
    fn block_count(&self) -> u64 {
        self.tx.block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        self.tx.root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() != BLOCK_SIZE {
            return self.tx.read(first, buf);
        }
        if let Some((_, data)) = self.blocks.iter().find(|(b, _)| *b == first) {
            buf.copy_from_slice(data);
            return Ok(());
        }
        self.tx.read(first, buf)?;
        self.blocks.push((first, buf.into()));
        Ok(())
    }
    fn begin(&mut self) -> Result<(), Error> {
        self.tx.begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.blocks.clear();
        self.tx.write(first, data)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.blocks.clear();
        self.tx.write_fresh(first, data)
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.tx.allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.blocks.clear();
        self.tx.free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.tx.is_allocated(block)
    }
    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.blocks.clear();
        self.tx.commit(durability)
    }
    fn abort(&mut self) {
        self.blocks.clear();
        self.tx.abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        self.tx.sync()
    }
}

impl ContentStore {
    /// [`ContentStore::locate`] of each of `chunks` in order, each extent
    /// passed to `f`, up to the first that fails (not stored, another
    /// length, an index node unreadable): its `read_chunk` says why.
    /// Returns how many were located.
    pub fn locate_many<T: Transactional>(
        &self,
        tx: &mut T,
        chunks: &[ChunkRef],
        mut f: impl FnMut(Extent),
    ) -> usize {
        let mut memo = Memo {
            tx,
            blocks: Vec::new(),
        };
        for (i, c) in chunks.iter().enumerate() {
            match self.locate(&mut memo, c) {
                Ok(e) => f(e),
                Err(_) => return i,
            }
        }
        chunks.len()
    }
}
