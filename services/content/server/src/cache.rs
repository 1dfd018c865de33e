//! [`RequestCache`]: the blocks one request of the content service reads
//! and writes, kept for that request only, so the chunk index's nodes cross
//! from the block service once per request instead of once per lookup, and
//! a node rewritten by several inserts of one piece is sent once, adjacent
//! nodes in one call (issue #13: "batch the index lookups of a piece").
//!
//! # Why it is safe
//! - A request of this service runs while its caller (the filesystem
//!   service, the transaction's holder) waits for the answer, and no other
//!   client may write in the transaction: nobody changes a block under the
//!   cache during the request. Between requests the holder may change any
//!   block, so the cache is emptied at the end of each ([`RequestCache::end`]).
//! - Journaled writes are held (dirty) and sent at the end of the request,
//!   before the answer (the holder may commit next); a request that fails
//!   sends none of them (the holder aborts the transaction). Written before
//!   their answer, in any order: the block service orders nothing among
//!   journaled writes of distinct blocks of one transaction.
//! - A later write of a held block replaces it; `write_fresh` or `free` of
//!   a held block drops it (the later write wins, a freed block is not
//!   written after its free), as the block store itself does.
//! - Memory is bounded: at most [`CACHE_BLOCKS`] blocks; when full, the dirty
//!   ones are sent and the cache starts again.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use block::{Durability, Error, Extent, Transactional, BLOCK_SIZE};
use block_api::client::BlockClient;

/// Blocks one request keeps (1 MiB).
pub const CACHE_BLOCKS: usize = 256;

struct Cached {
    data: Box<[u8]>,
    /// Written in this request, not yet sent.
    dirty: bool,
}

/// The block client with a per-request cache of single blocks.
pub struct RequestCache {
    pub dev: BlockClient,
    blocks: BTreeMap<u64, Cached>,
}

impl RequestCache {
    pub fn new(dev: BlockClient) -> Self {
        RequestCache {
            dev,
            blocks: BTreeMap::new(),
        }
    }

    /// Ends a request: on success the held writes and the gathered fresh
    /// data are sent (the caller may commit next); on failure they are
    /// dropped (the caller aborts). The cache is empty after either.
    pub fn end(&mut self, ok: bool) -> Result<(), Error> {
        let sent = if ok { self.send_dirty() } else { Ok(()) };
        self.blocks.clear();
        if ok && sent.is_ok() {
            self.dev.send_gathered()
        } else {
            self.dev.drop_gathered();
            sent
        }
    }

    /// Sends the held writes, runs of adjacent blocks as one call each.
    fn send_dirty(&mut self) -> Result<(), Error> {
        let mut run: Vec<u8> = Vec::new();
        let mut run_first = 0u64;
        let dirty: Vec<u64> = self
            .blocks
            .iter()
            .filter(|(_, c)| c.dirty)
            .map(|(b, _)| *b)
            .collect();
        for b in dirty {
            if !run.is_empty() && run_first + (run.len() / BLOCK_SIZE) as u64 != b {
                self.dev.write(run_first, &run)?;
                run.clear();
            }
            if run.is_empty() {
                run_first = b;
            }
            if let Some(c) = self.blocks.get_mut(&b) {
                run.extend_from_slice(&c.data);
                c.dirty = false;
            }
        }
        if !run.is_empty() {
            self.dev.write(run_first, &run)?;
        }
        Ok(())
    }

    /// Room for one more block: a full cache sends its writes and empties.
    fn make_room(&mut self) -> Result<(), Error> {
        if self.blocks.len() >= CACHE_BLOCKS {
            self.send_dirty()?;
            self.blocks.clear();
        }
        Ok(())
    }

    /// Forgets the blocks of `first..first + blocks` (dirty ones too).
    fn forget(&mut self, first: u64, blocks: u64) {
        let end = first.saturating_add(blocks);
        let held: Vec<u64> = self.blocks.range(first..end).map(|(b, _)| *b).collect();
        for b in held {
            self.blocks.remove(&b);
        }
    }
}

impl Transactional for RequestCache {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }

    fn root_block(&self, slot: usize) -> u64 {
        self.dev.root_block(slot)
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() == BLOCK_SIZE {
            if let Some(c) = self.blocks.get(&first) {
                buf.copy_from_slice(&c.data);
                return Ok(());
            }
            self.dev.read(first, buf)?;
            self.make_room()?;
            self.blocks.insert(
                first,
                Cached {
                    data: buf.into(),
                    dirty: false,
                },
            );
            return Ok(());
        }
        // Bulk data (a chunk): read through, with any held block over it.
        self.dev.read(first, buf)?;
        let end = first.saturating_add((buf.len() / BLOCK_SIZE) as u64);
        for (b, c) in self.blocks.range(first..end) {
            let at = (b - first) as usize * BLOCK_SIZE;
            buf[at..at + BLOCK_SIZE].copy_from_slice(&c.data);
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.blocks.clear();
        self.dev.begin()
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() == BLOCK_SIZE && first < self.dev.block_count() {
            if !self.blocks.contains_key(&first) {
                self.make_room()?;
            }
            self.blocks.insert(
                first,
                Cached {
                    data: data.into(),
                    dirty: true,
                },
            );
            return Ok(());
        }
        // Larger writes go at once; what they cover is no longer held.
        self.forget(first, (data.len() / BLOCK_SIZE) as u64);
        self.dev.write(first, data)
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.forget(first, (data.len() / BLOCK_SIZE) as u64);
        self.dev.write_fresh(first, data)
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.dev.allocate(count)
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.forget(extent.start, extent.len);
        self.dev.free(extent)
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.dev.is_allocated(block)
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.send_dirty()?;
        self.blocks.clear();
        self.dev.commit(durability)
    }

    fn abort(&mut self) {
        self.blocks.clear();
        self.dev.abort()
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.send_dirty()?;
        self.dev.sync()
    }
}
