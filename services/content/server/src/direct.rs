//! [`Direct`]: the block client, with large unjournaled writes sent
//! straight from the caller's buffer.
//!
//! `BlockClient` gathers `write_fresh` runs under 1 MiB in a buffer of its
//! own (a copy of every byte) so that chunks written one by one become a
//! few calls. The content service now writes a piece's new chunks as one
//! run already laid out in its buffer (`ChunkWriter::write_with`), so that
//! copy buys nothing: a run of [`DIRECT_MIN`] bytes or more goes as one
//! `write_fresh` call whose lease is the run itself (issue #13: the copy
//! was 103% of a large put's bytes). Smaller writes still go through the
//! gather.
//!
//! Ordering is as the block client's: the run's blocks were allocated in
//! this request, so no gathered write covers them, and every write of the
//! transaction reaches the service before the caller's commit. The call
//! names the transaction the client has learned (the allocation before it
//! told it), so a late write of an ended transaction is refused.

use block::{Error, Extent, Transactional};
use block_api::client::{block_error, BlockClient};
use block_api::MAX_TRANSFER;

/// Smallest `write_fresh` sent straight from the caller's buffer.
pub const DIRECT_MIN: usize = 64 * 1024;

pub struct Direct {
    pub client: BlockClient,
    /// Bytes sent straight from a caller's buffer (no copy here).
    pub direct_bytes: u64,
}

impl Direct {
    pub fn new(client: BlockClient) -> Self {
        Direct {
            client,
            direct_bytes: 0,
        }
    }
}

impl Transactional for Direct {
    fn block_count(&self) -> u64 {
        self.client.block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        self.client.root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.client.read(first, buf)
    }
    fn begin(&mut self) -> Result<(), Error> {
        self.client.begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.client.write(first, data)
    }
    /// The index cache's sealed nodes: gathered marked sealed, so the
    /// block store journals each under the CRC-32C read off its seal.
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.client.write_verified(block, data)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() < DIRECT_MIN || self.client.transaction() == 0 {
            return self.client.write_fresh(first, data);
        }
        let tx = self.client.transaction();
        for (i, piece) in data.chunks(MAX_TRANSFER).enumerate() {
            let at = first + (i * MAX_TRANSFER / block::BLOCK_SIZE) as u64;
            self.client
                .stub()
                .write_fresh(tx, at, piece)
                .map_err(block_error)?;
        }
        self.direct_bytes += data.len() as u64;
        Ok(())
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.client.allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.client.free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.client.is_allocated(block)
    }
    fn commit(&mut self, durability: block::Durability) -> Result<(), Error> {
        self.client.commit(durability)
    }
    fn abort(&mut self) {
        self.client.abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        self.client.sync()
    }
    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        self.client.free_blocks()
    }
}
