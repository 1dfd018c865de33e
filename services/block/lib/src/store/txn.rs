//! The open transaction and the `Transactional` operations on it: reads
//! through the transaction, the cache and the device; journaled and fresh
//! writes; allocation and frees (undone by `abort`); the size bound that
//! keeps a transaction within the journal.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::BlockStore;
use crate::checksums;
use crate::device::check_request;
use crate::error::Error;
use crate::journal;
use crate::{
    BlockDevice, DeviceError, Durability, Extent, IoRequest, Transactional, BLOCK_SIZE, ROOT_SLOTS,
};

#[derive(Clone, Copy)]
pub(super) enum AllocOp {
    Allocated(Extent),
    Freed(Extent),
}

/// The open transaction.
#[derive(Default)]
pub(super) struct Txn {
    /// Journaled writes: home block -> image.
    pub(super) writes: BTreeMap<u64, Box<[u8]>>,
    /// The CRC-32C of those images written sealed (`write_verified`),
    /// read off their seal: the journal tags them without a pass over
    /// their bytes. An image put any other way has none here.
    pub(super) known_crcs: BTreeMap<u64, u32>,
    /// Allocation changes in order (undone in reverse by `abort`).
    pub(super) ops: Vec<AllocOp>,
    pub(super) wrote_fresh: bool,
}

impl Txn {
    /// Makes `image` block's journaled write, its CRC-32C `crc` when
    /// known; answers the image it replaces.
    pub(super) fn put(
        &mut self,
        block: u64,
        image: Box<[u8]>,
        crc: Option<u32>,
    ) -> Option<Box<[u8]>> {
        match crc {
            Some(crc) => self.known_crcs.insert(block, crc),
            None => self.known_crcs.remove(&block),
        };
        self.writes.insert(block, image)
    }

    /// Drops block's journaled write, if any.
    pub(super) fn remove(&mut self, block: u64) {
        self.writes.remove(&block);
        self.known_crcs.remove(&block);
    }

    fn allocated_here(&self, block: u64) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, AllocOp::Allocated(e) if e.contains(block)))
    }
}

impl<D: BlockDevice> BlockStore<D> {
    /// What `write_fresh` of `len` bytes at `first` checks first: the
    /// blocks were allocated in this transaction, the store is writable,
    /// the transaction stays within its bound. Answers the blocks.
    fn check_fresh(&self, first: u64, len: usize) -> Result<u64, Error> {
        let blocks = self.check_range(first, len)?;
        let txn = self.txn.as_ref().ok_or(Error::NoTransaction)?;
        for b in first..first + blocks {
            if !txn.allocated_here(b) || !self.alloc.is_allocated(b) {
                return Err(Error::NotFresh { block: b });
            }
        }
        self.usable()?;
        self.check_txn_size(Extent::new(first, blocks), false)?;
        Ok(blocks)
    }

    /// `write_fresh` of `len` bytes that `fill` writes straight into the
    /// store's fresh buffer: the block service reads its client's lease
    /// there, one copy of every byte fewer than through a buffer of its
    /// own (issue #13). Same checks, effects and ordering as `write_fresh`
    /// (the data is sent before the commit's ordered-data flush). A write
    /// larger than the buffer's bound is filled into a buffer of its own
    /// and written at once, as `write_fresh` does. When `fill` fails
    /// nothing is written and its error is the inner one.
    pub fn write_fresh_with<E>(
        &mut self,
        first: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        let blocks = self.check_fresh(first, len)?;
        let limit = self.fresh_limit_bytes();
        if len > limit {
            let mut data = alloc::vec![0u8; len];
            if let Err(e) = fill(&mut data) {
                return Ok(Err(e));
            }
            return self.write_fresh(first, &data).map(Ok);
        }
        self.guarded(|s| {
            s.make_room_for_fresh(first, blocks, len)?;
            let pushed = match s.fresh.push_with(first, len, limit, fill) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if s.sb.data_checksums() {
                // The sums come from the buffered image; the table update
                // can fail (loading a table block), then the push is undone.
                let sums: Vec<u32> = (first..first + blocks)
                    .map(|b| s.fresh.get(b).map_or(0, checksums::data_checksum))
                    .collect();
                if let Err(e) =
                    s.set_checksums(Extent::new(first, blocks), |b| sums[(b - first) as usize])
                {
                    s.fresh.undo(pushed);
                    return Err(e);
                }
            }
            s.forget_journaled(first, blocks);
            s.stats.fresh_filled_bytes += len as u64;
            Ok(Ok(()))
        })
    }

    /// `write` of one block whose image `fill` writes straight into the
    /// buffer the transaction keeps (the block service reads its client's
    /// lease there: one 4 KiB copy per journaled image fewer than reading
    /// it into a buffer of its own and `write`, issue #13). The buffer is a
    /// spare one of an image replaced earlier when there is one (not
    /// zeroed first; `fill` must write all of it). Same checks, checksums
    /// and effects as `write`; when `fill` fails nothing is written and its
    /// error is the inner one.
    pub fn write_block_with<E>(
        &mut self,
        block: u64,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        self.write_filled(block, fill, false)
    }

    /// [`BlockStore::write_block_with`] of an image its writer sealed
    /// for `block` (the contract of [`Transactional::write_verified`]):
    /// journaled under the CRC-32C read off its seal
    /// ([`crate::sealed_image_crc`]), no pass over its bytes. The block
    /// service calls it for the images a client marks sealed.
    pub fn write_sealed_block_with<E>(
        &mut self,
        block: u64,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        self.write_filled(block, fill, true)
    }

    fn write_filled<E>(
        &mut self,
        block: u64,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
        sealed: bool,
    ) -> Result<Result<(), E>, Error> {
        self.check_journaled(block, BLOCK_SIZE)?;
        let mut image = self
            .spare_images
            .pop()
            .unwrap_or_else(|| alloc::vec![0u8; BLOCK_SIZE].into_boxed_slice());
        if let Err(e) = fill(&mut image) {
            self.recycle(image);
            return Ok(Err(e));
        }
        let crc = if sealed {
            crate::sealed_image_crc(block, &image)
        } else {
            None
        };
        self.guarded(|s| {
            s.set_checksums(Extent::new(block, 1), |_| match crc {
                // The table's entry for the CRC: `data_checksum`'s value.
                Some(crc) => crc.max(1),
                None => checksums::data_checksum(&image),
            })?;
            if let Some(old) = s.txn_mut()?.put(block, image, crc) {
                s.recycle(old);
            }
            s.stats.journal_filled_bytes += BLOCK_SIZE as u64;
            Ok(Ok(()))
        })
    }

    /// What a journaled write of `len` bytes at `first` checks first: a
    /// transaction is open, the blocks are allocated data or root blocks,
    /// the transaction stays within the journal. Answers the blocks.
    fn check_journaled(&self, first: u64, len: usize) -> Result<u64, Error> {
        self.usable()?;
        if self.txn.is_none() {
            return Err(Error::NoTransaction);
        }
        let blocks = self.check_range(first, len)?;
        for b in first..first + blocks {
            if b < self.sb.root_start {
                return Err(Error::Reserved { block: b });
            }
            if !self.alloc.is_allocated(b) {
                return Err(Error::NotAllocated { block: b });
            }
        }
        self.check_txn_size(Extent::new(first, blocks), true)?;
        Ok(blocks)
    }

    fn check_range(&self, first: u64, len: usize) -> Result<u64, Error> {
        check_request(first, len, self.sb.block_count).map_err(|e| match e {
            DeviceError::OutOfRange {
                first,
                blocks,
                block_count,
            } => Error::OutOfRange {
                first,
                blocks,
                block_count,
            },
            _ => Error::BadLength { len },
        })
    }

    /// Refuses a change that would make the open transaction too large for
    /// the journal: `range` written (journaled or not) plus the checksum
    /// table blocks it touches, plus every bitmap block in the worst case.
    fn check_txn_size(&self, range: Extent, journaled: bool) -> Result<(), Error> {
        let txn = self.txn.as_ref().ok_or(Error::NoTransaction)?;
        let new = if journaled {
            (range.start..range.end())
                .filter(|b| !txn.writes.contains_key(b))
                .count() as u64
        } else {
            0
        };
        let tables = if self.sb.data_checksums() && range.len > 0 {
            let first = checksums::locate(range.start).0;
            let last = checksums::locate(range.end() - 1).0;
            (first..=last)
                .filter(|t| !txn.writes.contains_key(&(self.sb.checksum_start + t)))
                .count() as u64
        } else {
            0
        };
        let jb = self.sb.journal_blocks;
        let needed =
            journal::blocks_needed(txn.writes.len() as u64 + new + tables + self.sb.bitmap_blocks);
        if needed > jb {
            return Err(Error::TransactionTooLarge {
                journal_blocks_needed: needed,
                journal_blocks: jb,
            });
        }
        Ok(())
    }

    /// A fresh write to `first..first + blocks` (blocks allocated in the
    /// open transaction) replaces every journaled image of them: the open
    /// transaction's, and any cached one. (A block of a committed
    /// transaction is never allocated again before a checkpoint wrote it
    /// home, so none is dirty in the cache or in the compound; forgotten
    /// there too all the same, so the compound never names an image the
    /// cache lacks.)
    fn forget_journaled(&mut self, first: u64, blocks: u64) {
        if let Some(txn) = self.txn.as_mut() {
            txn.wrote_fresh = true;
            for b in first..first + blocks {
                txn.remove(b);
            }
        }
        for b in first..first + blocks {
            self.compound.forget(b);
            self.cache.remove(b);
        }
    }

    pub(super) fn txn_mut(&mut self) -> Result<&mut Txn, Error> {
        self.usable()?;
        self.txn.as_mut().ok_or(Error::NoTransaction)
    }
}

impl<D: BlockDevice> Transactional for BlockStore<D> {
    fn block_count(&self) -> u64 {
        self.sb.block_count
    }

    /// The allocator's count: every block below the data region is
    /// allocated, so it is the scan's count of the data region.
    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.alloc.free_blocks()))
    }

    fn root_block(&self, slot: usize) -> u64 {
        assert!(slot < ROOT_SLOTS, "root slot {slot} out of 0..{ROOT_SLOTS}");
        self.sb.root_start + slot as u64
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        // Reads work in a read-only store: committed data stays readable.
        self.check_range(first, buf.len())?;
        self.guarded(|s| {
            // Blocks neither in the transaction nor cached are read from the
            // device: one request per run of consecutive misses, all runs
            // submitted as one batch (several in flight on a queued device).
            let mut misses: Vec<(u64, u64)> = Vec::new();
            for (i, slot) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
                let block = first + i as u64;
                if let Some(data) = s.txn.as_ref().and_then(|t| t.writes.get(&block)) {
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.fresh.get(block) {
                    // Fresh data of the open transaction not yet sent.
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.cache.get(block) {
                    slot.copy_from_slice(data);
                } else if let Some(data) = s.overlay.get(&block) {
                    slot.copy_from_slice(data);
                } else {
                    match misses.last_mut() {
                        Some((start, len)) if *start + *len == i as u64 => *len += 1,
                        _ => misses.push((i as u64, 1)),
                    }
                }
            }
            if misses.is_empty() {
                return Ok(());
            }
            let mut batch: Vec<IoRequest<'_>> = Vec::with_capacity(misses.len());
            let mut rest: &mut [u8] = buf;
            let mut consumed = 0u64;
            for &(start, len) in &misses {
                let (_, from_run) = core::mem::take(&mut rest)
                    .split_at_mut((start - consumed) as usize * BLOCK_SIZE);
                let (run, after) = from_run.split_at_mut(len as usize * BLOCK_SIZE);
                batch.push(IoRequest::Read {
                    first: first + start,
                    buf: run,
                });
                rest = after;
                consumed = start + len;
            }
            s.dev.submit(&mut batch)?;
            for request in &batch {
                // Long runs are bulk data: keep them out of the cache.
                if let IoRequest::Read { first, buf } = request {
                    if buf.len() <= 8 * BLOCK_SIZE {
                        for (k, data) in buf.chunks_exact(BLOCK_SIZE).enumerate() {
                            s.cache.insert_clean(first + k as u64, data);
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.verify_checksums(first, buf)
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.usable()?;
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.alloc.take_dirty();
        self.txn = Some(Txn::default());
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let blocks = self.check_journaled(first, data.len())?;
        self.guarded(|s| {
            // Table entries first: loading a table block can fail, the
            // insertion of the data cannot, so the two never disagree.
            s.set_checksums(Extent::new(first, blocks), |b| {
                let at = (b - first) as usize * BLOCK_SIZE;
                checksums::data_checksum(&data[at..at + BLOCK_SIZE])
            })?;
            for (i, chunk) in data.chunks_exact(BLOCK_SIZE).enumerate() {
                let replaced = s.txn_mut()?.put(first + i as u64, chunk.into(), None);
                if let Some(old) = replaced {
                    s.recycle(old);
                }
            }
            s.stats.journal_copied_bytes += data.len() as u64;
            Ok(())
        })
    }

    /// The tree's sealed node: journaled under the CRC-32C read off its
    /// seal (`write_sealed_block_with`).
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() != BLOCK_SIZE {
            return self.write(block, data);
        }
        let copied = self.write_sealed_block_with(block, |image| {
            image.copy_from_slice(data);
            Ok::<(), core::convert::Infallible>(())
        })?;
        let Ok(()) = copied;
        Ok(())
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let blocks = self.check_fresh(first, data.len())?;
        self.guarded(|s| {
            s.set_checksums(Extent::new(first, blocks), |b| {
                let at = (b - first) as usize * BLOCK_SIZE;
                checksums::data_checksum(&data[at..at + BLOCK_SIZE])
            })?;
            s.forget_journaled(first, blocks);
            s.buffer_fresh(first, data)
        })
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        self.txn_mut()?;
        if count == 0 {
            return Err(Error::BadLength { len: 0 });
        }
        let extent = match self.alloc.find_free_run(count) {
            Some(e) => e,
            None if self.reserved_waiting => {
                // Blocks freed by committed transactions come back after a checkpoint.
                self.checkpoint()?;
                self.alloc.find_free_run(count).ok_or(Error::NoSpace)?
            }
            None => return Err(Error::NoSpace),
        };
        self.check_txn_size(extent, false)?;
        // Until its first write the new block's old contents have no checksum.
        self.guarded(|s| s.set_checksums(extent, |_| checksums::NONE))?;
        self.alloc.set(extent, true);
        self.txn_mut()?.ops.push(AllocOp::Allocated(extent));
        Ok(extent)
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.txn_mut()?;
        if extent.len == 0 {
            return Err(Error::BadLength { len: 0 });
        }
        if extent
            .start
            .checked_add(extent.len)
            .is_none_or(|end| end > self.sb.block_count)
        {
            return Err(Error::OutOfRange {
                first: extent.start,
                blocks: extent.len,
                block_count: self.sb.block_count,
            });
        }
        for b in extent.start..extent.end() {
            if b < self.sb.data_start {
                return Err(Error::Reserved { block: b });
            }
            if !self.alloc.is_allocated(b) {
                return Err(Error::NotAllocated { block: b });
            }
        }
        self.alloc.set(extent, false);
        self.alloc.reserve(extent, true);
        self.txn_mut()?.ops.push(AllocOp::Freed(extent));
        Ok(())
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        if block >= self.sb.block_count {
            return Err(Error::OutOfRange {
                first: block,
                blocks: 1,
                block_count: self.sb.block_count,
            });
        }
        Ok(self.alloc.is_allocated(block))
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.usable()?;
        self.guarded(|s| s.do_commit(durability))
    }

    fn abort(&mut self) {
        // Fresh data of an aborted transaction lands in blocks it freed: drop it.
        self.fresh.clear();
        if let Some(txn) = self.txn.take() {
            for op in txn.ops.iter().rev() {
                match *op {
                    AllocOp::Allocated(e) => self.alloc.set(e, false),
                    AllocOp::Freed(e) => {
                        self.alloc.reserve(e, false);
                        self.alloc.set(e, true);
                    }
                }
            }
            self.alloc.take_dirty();
        }
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.usable()?;
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.guarded(|s| s.sync_journal())
    }
}
