//! The store's device: every request counted for `stats`, and the rule
//! that a failed write or flush turns the store read-only until the next
//! mount (a failed read fails that read alone).

use alloc::format;

use super::{log_event, BlockStore};
use crate::error::{Error, FaultOp, WriteFault};
use crate::{BlockDevice, DeviceError, IoRequest, BLOCK_SIZE};

/// Counts every request the store makes of its device, and keeps the first
/// failed write or flush: from then on the store is read-only.
pub(super) struct Counted<D> {
    pub(super) dev: D,
    pub(super) reads: u64,
    pub(super) writes: u64,
    pub(super) flushes: u64,
    /// Writes made durable in the same request (`write_durable`), also
    /// counted in `writes` and `flushes`.
    pub(super) durable_writes: u64,
    pub(super) blocks_read: u64,
    pub(super) blocks_written: u64,
    pub(super) fault: Option<WriteFault>,
}

impl<D> Counted<D> {
    pub(super) fn new(dev: D) -> Self {
        Counted {
            dev,
            reads: 0,
            writes: 0,
            flushes: 0,
            durable_writes: 0,
            blocks_read: 0,
            blocks_written: 0,
            fault: None,
        }
    }

    /// Records a failed write or flush (the first one is kept).
    fn note<T>(
        &mut self,
        op: FaultOp,
        block: u64,
        r: Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        if let Err(e) = &r {
            self.fault.get_or_insert(WriteFault::new(op, block, e));
        }
        r
    }
}

impl<D: BlockDevice> BlockDevice for Counted<D> {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.reads += 1;
        self.blocks_read += (buf.len() / BLOCK_SIZE) as u64;
        self.dev.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.writes += 1;
        self.blocks_written += (data.len() / BLOCK_SIZE) as u64;
        let r = self.dev.write(first, data);
        self.note(FaultOp::Write, first, r)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.flushes += 1;
        let r = self.dev.flush();
        self.note(FaultOp::Flush, 0, r)
    }
    fn durable_write_is_one_request(&self) -> bool {
        self.dev.durable_write_is_one_request()
    }
    fn write_durable(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        if !self.dev.durable_write_is_one_request() {
            self.write(first, data)?;
            return self.flush();
        }
        // The device reports a failed write or flush of the request as a
        // failure at its block: recorded as a failed write there.
        self.writes += 1;
        self.flushes += 1;
        self.durable_writes += 1;
        self.blocks_written += (data.len() / BLOCK_SIZE) as u64;
        let r = self.dev.write_durable(first, data);
        self.note(FaultOp::Write, first, r)
    }
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        let mut first_write = None;
        for r in batch.iter() {
            match r {
                IoRequest::Read { .. } => {
                    self.reads += 1;
                    self.blocks_read += r.blocks();
                }
                IoRequest::Write { .. } => {
                    self.writes += 1;
                    self.blocks_written += r.blocks();
                    first_write.get_or_insert(r.first());
                }
            }
        }
        let r = self.dev.submit(batch);
        match first_write {
            // A batch with a write may have changed the disk: read-only.
            Some(block) => self.note(FaultOp::Write, block, r),
            // A failed read changes nothing: it fails that read alone.
            None => r,
        }
    }
}

impl<D: BlockDevice> BlockStore<D> {
    /// `Err(ReadOnly)` once a write or flush has failed: every change is
    /// refused from then on. Reads never check it.
    pub(super) fn usable(&self) -> Result<(), Error> {
        match self.dev.fault {
            Some(fault) => Err(Error::ReadOnly(fault)),
            None => Ok(()),
        }
    }

    /// Runs `f`. A failed write or flush leaves the disk behind the
    /// committed state in memory (which blocks reached it is unknown), so
    /// the store turns read-only: the caller gets `ReadOnly`, and reads keep
    /// serving the committed state from the cache and the disk. A failed
    /// read changes nothing and is returned as it is.
    pub(super) fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let before = self.dev.fault.is_some();
        let r = f(self);
        match (r, self.dev.fault) {
            (Err(Error::Device(_)), Some(fault)) if !before => {
                log_event(
                    &mut self.events,
                    format!("{fault}: the store is read-only until the next boot"),
                );
                Err(Error::ReadOnly(fault))
            }
            (r, _) => r,
        }
    }
}
