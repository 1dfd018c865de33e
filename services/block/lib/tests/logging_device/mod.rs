//! A device that logs what the store asks of it (reads left out), for the
//! tests about what is written when: the order of writes, batches, flushes
//! and durable writes.

#![allow(dead_code)]

use block::{BlockDevice, DeviceError, IoRequest, MemDevice, BLOCK_SIZE};

/// What the store asked of the device, in order (reads left out).
#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    Write {
        first: u64,
        blocks: u64,
    },
    Flush,
    /// One `write_durable`: the write and its flush in one request.
    WriteDurable {
        first: u64,
        blocks: u64,
    },
    /// One `submit`: the writes in it (first block, blocks).
    Submit(Vec<(u64, u64)>),
}

pub struct Logging {
    pub dev: MemDevice,
    pub calls: Vec<Call>,
    /// `durable_write_is_one_request` answers this (false: the store
    /// writes and then flushes, as for a device without such a request).
    pub fused: bool,
}

impl Logging {
    /// A logging device of `blocks` zeroed blocks.
    pub fn new(blocks: u64, fused: bool) -> Logging {
        Logging {
            dev: MemDevice::new(blocks),
            calls: Vec::new(),
            fused,
        }
    }
}

impl BlockDevice for Logging {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.dev.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.calls.push(Call::Write {
            first,
            blocks: (data.len() / BLOCK_SIZE) as u64,
        });
        self.dev.write(first, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.calls.push(Call::Flush);
        Ok(())
    }
    fn write_durable(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.calls.push(Call::WriteDurable {
            first,
            blocks: (data.len() / BLOCK_SIZE) as u64,
        });
        self.dev.write(first, data)
    }
    fn durable_write_is_one_request(&self) -> bool {
        self.fused
    }
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        let writes: Vec<(u64, u64)> = batch
            .iter()
            .filter(|r| matches!(r, IoRequest::Write { .. }))
            .map(|r| (r.first(), r.blocks()))
            .collect();
        if !writes.is_empty() {
            self.calls.push(Call::Submit(writes));
        }
        for r in batch.iter_mut() {
            match r {
                IoRequest::Read { first, buf } => self.dev.read(*first, buf)?,
                IoRequest::Write { first, data } => self.dev.write(*first, data)?,
            }
        }
        Ok(())
    }
}
