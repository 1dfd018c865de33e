//! `block::Transactional` for [`BlockClient`]: each trait call as stub
//! calls, through the gathers of unjournaled and journaled writes and the
//! allocation-bit window the client keeps (see the parent module).

use abi::iface::Transport;
use block::{Durability, Error, Extent, Transactional, BLOCK_SIZE};

use super::{block_error, block_numbers, check_len, BlockClient, BITS_WINDOW, FRESH_GATHER};
use crate::{MAX_SCATTER, MAX_TRANSFER, NO_DELEGATE};

impl<T: Transport> Transactional for BlockClient<T> {
    fn block_count(&self) -> u64 {
        self.geometry.block_count
    }

    fn root_block(&self, slot: usize) -> u64 {
        assert!(
            (slot as u64) < self.geometry.root_slots,
            "root slot {slot} out of 0..{}",
            self.geometry.root_slots
        );
        self.geometry.root_start + slot as u64
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        check_len(buf.len())?;
        let blocks = (buf.len() / BLOCK_SIZE) as u64;
        self.before_touching(first, blocks)?;
        if blocks == 1 {
            if let Some(i) = self.gathered_at(first) {
                buf.copy_from_slice(&self.journal[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE]);
                return Ok(());
            }
        } else if self.journal_touches(first, blocks) {
            self.send_journal()?;
        }
        for (i, piece) in buf.chunks_mut(MAX_TRANSFER).enumerate() {
            let at = first + (i * MAX_TRANSFER / BLOCK_SIZE) as u64;
            self.stub.read(at, piece).map_err(block_error)?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.before()?;
        if core::mem::take(&mut self.armed) {
            // Armed by the last commit: the service opens it at the first
            // call that goes into it (ours, or our delegate's).
            self.tx = 0;
            self.holds = true;
            self.free_known = None;
            return Ok(());
        }
        // One call either way: a delegated transaction is opened delegated.
        let tx = match self.delegate {
            Some(badge) => self.stub.begin_delegated(badge),
            None => self.stub.begin(),
        }
        .map_err(block_error)?;
        self.tx = tx;
        self.holds = true;
        self.free_known = None;
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        check_len(data.len())?;
        let blocks = data.len() / BLOCK_SIZE;
        self.before_touching(first, blocks as u64)?;
        // A delegate that does not know its transaction yet sends its first
        // write at once: the answer names the transaction, and every write
        // it gathers after that is sent naming it, so a late one is refused.
        let knows_tx = self.holds || self.tx != 0;
        if blocks <= MAX_SCATTER && knows_tx {
            for (i, image) in data.chunks(BLOCK_SIZE).enumerate() {
                self.gather_block(first + i as u64, image, false)?;
            }
            return Ok(());
        }
        // Sent now, after the gathered writes (one of them may be for the
        // same blocks, and the later write must win).
        self.send_journal()?;
        for (i, piece) in data.chunks(MAX_TRANSFER).enumerate() {
            let at = first + (i * MAX_TRANSFER / BLOCK_SIZE) as u64;
            let tx = self.stub.write(self.tx, at, piece).map_err(block_error)?;
            self.went_into(tx);
        }
        Ok(())
    }

    /// A sealed node, gathered marked `SCATTER_SEALED`: the store journals
    /// it under the CRC-32C read off its seal. A delegate that does not
    /// know its transaction yet sends it as a plain `write`.
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        let knows_tx = self.holds || self.tx != 0;
        if data.len() != BLOCK_SIZE || !knows_tx {
            return self.write(block, data);
        }
        self.before_touching(block, 1)?;
        self.gather_block(block, data, true)
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        check_len(data.len())?;
        if self.journal_touches(first, (data.len() / BLOCK_SIZE) as u64) {
            // The later write must land last.
            self.send_journal()?;
        }
        let next = self.fresh_first + (self.fresh.len() / BLOCK_SIZE) as u64;
        if !self.fresh.is_empty() && (first != next || self.fresh.len() + data.len() > FRESH_GATHER)
        {
            self.send_fresh()?;
        }
        if data.len() >= FRESH_GATHER {
            for (i, piece) in data.chunks(MAX_TRANSFER).enumerate() {
                let at = first + (i * MAX_TRANSFER / BLOCK_SIZE) as u64;
                let tx = self
                    .stub
                    .write_fresh(self.tx, at, piece)
                    .map_err(block_error)?;
                self.went_into(tx);
            }
            return Ok(());
        }
        if self.fresh.is_empty() {
            self.fresh_first = first;
        }
        self.fresh.extend_from_slice(data);
        let g = &self.stub.transport.gathered;
        g.set(g.get() + data.len() as u64);
        Ok(())
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        // The gathered blocks are allocated: a new extent never overlaps them.
        self.bits_len = 0;
        let a = self.stub.allocate(self.tx, count).map_err(block_error)?;
        self.went_into(a.tx);
        Ok(Extent::new(a.start, a.len))
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.before_touching(extent.start, extent.len)?;
        if self.journal_touches(extent.start, extent.len) {
            // As the service saw it before: the write, then the free.
            self.send_journal()?;
        }
        let tx = self
            .stub
            .free(self.tx, extent.start, extent.len)
            .map_err(block_error)?;
        self.went_into(tx);
        Ok(())
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        if block < self.bits_first || block >= self.bits_first + self.bits_len {
            self.send_fresh()?;
            let n = self
                .stub
                .allocation_bits(block, &mut self.bits[..])
                .map_err(block_error)?;
            self.bits_first = block;
            self.bits_len = n.min(BITS_WINDOW);
            if self.bits_len == 0 {
                return Err(Error::OutOfRange {
                    first: block,
                    blocks: 1,
                    block_count: self.geometry.block_count,
                });
            }
        }
        let i = (block - self.bits_first) as usize;
        Ok(self.bits[i / 8] & (1 << (i % 8)) != 0)
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        // The gathered writes ride with the commit itself.
        self.bits_len = 0;
        self.fold_fresh();
        let sent = self.send_fresh();
        let tx = self.tx;
        self.ended();
        let images = core::mem::take(&mut self.journal);
        let at = block_numbers(&self.journal_at);
        self.journal_at.clear();
        let durable = durability == Durability::Durable;
        self.free_known = None;
        let arm = self.arm.then(|| self.delegate.unwrap_or(NO_DELEGATE));
        self.armed = false;
        let done = match sent {
            Err(e) => {
                // The service still holds the transaction: drop it there.
                let _ = self.stub.abort(tx);
                Err(e)
            }
            // With images only: the interface has no empty leases, and a
            // commit with nothing gathered (none of the fs's: it writes
            // its root block in each) is a plain `commit`, arming nothing.
            Ok(()) if arm.is_some() && !at.is_empty() => {
                let delegate = arm.unwrap_or(0);
                let free = self
                    .stub
                    .commit_armed(tx, durable, delegate, &images, &at)
                    .map_err(block_error);
                self.armed = free.is_ok();
                free
            }
            Ok(()) if at.is_empty() => self.stub.commit(tx, durable).map_err(block_error),
            Ok(()) => self
                .stub
                .commit_scattered(tx, durable, &images, &at)
                .map_err(block_error),
        }
        .map(|free| self.free_known = Some(free));
        // Keep the buffer's capacity for the next transaction.
        self.journal = images;
        self.journal.clear();
        done
    }

    fn abort(&mut self) {
        // The gathered writes belong to the aborted transaction; the
        // service ends the arming too (the next `begin` is a call).
        self.armed = false;
        self.fresh.clear();
        self.clear_journal();
        self.bits_len = 0;
        self.free_known = None;
        let tx = self.tx;
        self.ended();
        // Nothing to report: the service drops the transaction either way
        // (an error here means it is gone already).
        let _ = self.stub.abort(tx);
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.before()?;
        self.stub.sync().map_err(block_error)
    }

    fn free_blocks(&mut self) -> Result<Option<u64>, Error> {
        self.stub.free_blocks().map(Some).map_err(block_error)
    }

    /// The count the last commit answered, while this client holds no
    /// transaction. Exact for its own state: every allocation since its
    /// `begin`, its delegate's (the content service's) included, was in
    /// the transaction that commit ended, and none happens before its
    /// next `begin`. Only another holder's transaction since (the store
    /// runs one at a time: none in the deployed system, where the fs holds
    /// every transaction and the content service works only in them as
    /// its delegate) makes it stale.
    fn free_blocks_known(&self) -> Option<u64> {
        if self.holds {
            return None;
        }
        self.free_known
    }
}
