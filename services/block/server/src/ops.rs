//! The operations: `block_store::Server` for [`Service`], each call
//! answered with a typed result (the generated dispatch has decoded and
//! checked it); the transaction bookkeeping they share is in the crate root.

use abi::iface::{Caller, LeaseIn, LeaseOut, Pending};
use block::{BlockDevice, Error, Extent, Transactional, BLOCK_SIZE};
use block_api::{block_store, Allocated, BlockError, Geometry, Reported, MAX_PIECE_BLOCKS};

use crate::{lease_error, whole_blocks, Service};

impl<D: BlockDevice, C: Caller> block_store::Server<C> for Service<D, C> {
    fn info(&mut self, _badge: u64) -> Result<Geometry, BlockError> {
        let g = self.store.geometry();
        Ok(Geometry {
            block_count: g.block_count,
            root_start: g.roots.start,
            root_slots: g.roots.len,
            data_start: g.data_start,
        })
    }

    fn read(&mut self, _badge: u64, first: u64, buf: LeaseOut<'_, C>) -> Result<u64, BlockError> {
        let blocks = whole_blocks(buf.len())?;
        let mut done = 0u64;
        while done < blocks {
            let n = (blocks - done).min(MAX_PIECE_BLOCKS as u64);
            let bytes = n as usize * BLOCK_SIZE;
            let at = first.checked_add(done).ok_or(Error::OutOfRange {
                first,
                blocks,
                block_count: self.store.block_count(),
            })?;
            self.store.read(at, &mut self.piece[..bytes])?;
            buf.write(done * BLOCK_SIZE as u64, &self.piece[..bytes])
                .map_err(lease_error)?;
            self.counters.lease_out += bytes as u64;
            done += n;
        }
        Ok(blocks)
    }

    fn begin(&mut self, badge: u64, pending: Pending<C, u64, BlockError>) {
        self.begin_for(badge, None, pending);
    }

    fn begin_delegated(&mut self, badge: u64, pending: Pending<C, u64, BlockError>, to: u64) {
        self.begin_for(badge, Some(to), pending);
    }

    fn free_blocks(&mut self, _badge: u64) -> Result<u64, BlockError> {
        Ok(self.store.stats().free_blocks)
    }

    fn write(
        &mut self,
        badge: u64,
        tx: u64,
        first: u64,
        data: LeaseIn<'_, C>,
    ) -> Result<u64, BlockError> {
        let tx = self.writable(badge, tx)?;
        self.write_blocks(first, &data, false)?;
        Ok(tx)
    }

    fn write_fresh(
        &mut self,
        badge: u64,
        tx: u64,
        first: u64,
        data: LeaseIn<'_, C>,
    ) -> Result<u64, BlockError> {
        let tx = self.writable(badge, tx)?;
        self.write_blocks(first, &data, true)?;
        Ok(tx)
    }

    fn allocate(&mut self, badge: u64, tx: u64, count: u64) -> Result<Allocated, BlockError> {
        let tx = self.writable(badge, tx)?;
        let e = self.store.allocate(count)?;
        Ok(Allocated {
            start: e.start,
            len: e.len,
            tx,
        })
    }

    fn free(&mut self, badge: u64, tx: u64, start: u64, len: u64) -> Result<u64, BlockError> {
        let tx = self.writable(badge, tx)?;
        self.store.free(Extent::new(start, len))?;
        Ok(tx)
    }

    fn allocation_bits(
        &mut self,
        _badge: u64,
        first: u64,
        out: LeaseOut<'_, C>,
    ) -> Result<u64, BlockError> {
        let count = self.store.block_count();
        if first >= count {
            return Err(BlockError::store(Error::OutOfRange {
                first,
                blocks: 1,
                block_count: count,
            }));
        }
        let bits = (out.len().min(self.piece.len() as u64) * 8).min(count - first);
        let bytes = bits.div_ceil(8) as usize;
        self.piece[..bytes].fill(0);
        for i in 0..bits {
            if self.store.is_allocated(first + i)? {
                self.piece[(i / 8) as usize] |= 1 << (i % 8);
            }
        }
        out.write(0, &self.piece[..bytes]).map_err(lease_error)?;
        Ok(bits)
    }

    fn commit(&mut self, badge: u64, tx: u64, durable: bool) -> Result<u64, BlockError> {
        self.held(badge, tx)?;
        self.commit_open(durable)
    }

    fn write_scattered(
        &mut self,
        badge: u64,
        tx: u64,
        data: LeaseIn<'_, C>,
        at: LeaseIn<'_, C>,
    ) -> Result<u64, BlockError> {
        let tx = self.writable(badge, tx)?;
        self.write_scattered_blocks(&data, &at)?;
        Ok(tx)
    }

    fn commit_scattered(
        &mut self,
        badge: u64,
        tx: u64,
        durable: bool,
        data: LeaseIn<'_, C>,
        at: LeaseIn<'_, C>,
    ) -> Result<u64, BlockError> {
        self.held(badge, tx)?;
        if let Err(e) = self.write_scattered_blocks(&data, &at) {
            // All or nothing: the commit's own writes failed.
            self.store.abort();
            self.end();
            return Err(e);
        }
        self.commit_open(durable)
    }

    fn commit_armed(
        &mut self,
        badge: u64,
        tx: u64,
        durable: bool,
        delegate: u64,
        data: LeaseIn<'_, C>,
        at: LeaseIn<'_, C>,
    ) -> Result<u64, BlockError> {
        // `commit_scattered`, then the arming (only after a commit that
        // succeeded: a failed one arms nothing).
        let free = block_store::Server::commit_scattered(self, badge, tx, durable, data, at)?;
        self.armed = Some((badge, delegate));
        Ok(free)
    }

    fn abort(&mut self, badge: u64, tx: u64) -> Result<(), BlockError> {
        // An armed transaction not opened yet: nothing to drop but the
        // arming (an abort never opens one).
        if self.open.is_none() && tx == 0 && self.armed.is_some_and(|(h, _)| h == badge) {
            self.disarm(badge);
            return Ok(());
        }
        self.disarm(badge);
        match self.held(badge, tx) {
            // Aborted already at its delegate's death: done.
            Err(BlockError::Aborted { .. }) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.store.abort();
        self.end();
        Ok(())
    }

    fn sync(&mut self, _badge: u64) -> Result<(), BlockError> {
        Ok(self.store.sync()?)
    }

    fn report(
        &mut self,
        _badge: u64,
        what: u64,
        out: LeaseOut<'_, C>,
    ) -> Result<Reported, BlockError> {
        let text = self.report_text(what)?;
        let n = text
            .len()
            .min(usize::try_from(out.len()).unwrap_or(usize::MAX));
        out.write(0, &text.as_bytes()[..n]).map_err(lease_error)?;
        Ok(Reported {
            written: n as u64,
            needed: text.len() as u64,
        })
    }

    fn checkpoint(&mut self, _badge: u64) -> Result<(), BlockError> {
        if self.open.is_some() {
            return Err(BlockError::store(Error::TransactionOpen));
        }
        Ok(self.store.checkpoint()?)
    }

    fn delegate(&mut self, badge: u64, tx: u64, to: u64) -> Result<(), BlockError> {
        self.held(badge, tx)?.delegate = Some(to);
        Ok(())
    }
}
