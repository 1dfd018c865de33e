//! The client: a `block::BlockDevice` over the driver's interface (`blk`
//! stubs), over any transport, so it is tested on the host.
//!
//! Single requests lend the caller's own buffer (no copy in the client). A
//! `submit` batch of several requests goes out as `Batch` calls: the
//! requests' data is gathered into one staging buffer (one lease can cover
//! only one buffer) of at most `STAGING_BYTES`; a request larger than that
//! goes out on its own, lending its buffer directly.

use crate::{
    blk, info_flags, io_code, write_flags, BatchEntry, BatchOp, BlkError, DriverStats,
    BATCH_ENTRY_SIZE, MAX_BATCH_ENTRIES,
};
use abi::iface::{CallError, Transport};
use alloc::vec;
use alloc::vec::Vec;
use block::{check_request, BlockDevice, DeviceError, IoRequest};

/// Largest staging buffer a batch call gathers its data in.
pub const STAGING_BYTES: usize = 512 * 1024;

/// Why `DiskClient::connect` failed: the kernel refused (no such
/// endpoint, driver dead) or the driver did (e.g. no disk for the badge).
pub type ConnectError = CallError<BlkError>;

/// A disk served by the virtio-blk driver, over transport `T` (an IPC
/// endpoint in the system, a fake on the host).
pub struct DiskClient<T> {
    stub: blk::Client<T>,
    block_count: u64,
    read_only: bool,
    staging: Vec<u8>,
}

fn request_len(request: &IoRequest<'_>) -> usize {
    match request {
        IoRequest::Read { buf, .. } => buf.len(),
        IoRequest::Write { data, .. } => data.len(),
    }
}

/// The block layer's error for a failed call about `blocks` blocks at
/// `first`. A kernel error (the driver died) is `Io` with code
/// `-(abi::Error)`.
fn device_error(e: CallError<BlkError>, first: u64, blocks: u64) -> DeviceError {
    match e {
        CallError::Service(e) => e.to_device_error(blocks),
        CallError::Refused(_) => DeviceError::Io {
            first,
            code: io_code::PROTOCOL,
        },
        CallError::Kernel(k) => DeviceError::Io {
            first,
            code: io_code::KERNEL_BASE - k as i32,
        },
    }
}

impl<T: Transport> DiskClient<T> {
    /// Asks the driver for the disk's size through `transport`.
    pub fn connect(transport: T) -> Result<DiskClient<T>, ConnectError> {
        let stub = blk::Client::new(transport);
        let info = stub.info()?;
        Ok(DiskClient {
            stub,
            block_count: info.block_count,
            read_only: info.flags & info_flags::READ_ONLY != 0,
            staging: Vec::new(),
        })
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The driver's counters.
    pub fn stats(&mut self) -> Result<DriverStats, DeviceError> {
        let s = self.stub.stats().map_err(|e| device_error(e, 0, 0))?;
        let more = self.stub.more_stats().unwrap_or(crate::MoreStats {
            direct_pieces: 0,
            copied_pieces: 0,
            bounced_bytes: 0,
            notifications: 0,
        });
        Ok(DriverStats {
            requests: s.requests,
            blocks_read: s.blocks_read,
            blocks_written: s.blocks_written,
            interrupts: s.interrupts,
            most_in_flight: s.most_in_flight,
            copy_cycles: s.copy_cycles,
            direct_pieces: more.direct_pieces,
            copied_pieces: more.copied_pieces,
            bounced_bytes: more.bounced_bytes,
            notifications: more.notifications,
        })
    }

    /// Writes `data` at `first`; with `fua` it is durable when this returns.
    pub fn write_with(&mut self, first: u64, data: &[u8], fua: bool) -> Result<(), DeviceError> {
        let blocks = check_request(first, data.len(), self.block_count)?;
        let flags = if fua { write_flags::FUA } else { 0 };
        self.stub
            .write(first, blocks, flags, data)
            .map_err(|e| device_error(e, first, blocks))
    }

    /// Sends requests `batch[..]` (all of which fit the staging buffer) as
    /// one `batch` call.
    fn batch_call(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        let total: usize = batch.iter().map(request_len).sum();
        if self.staging.len() < total {
            self.staging = vec![0; total];
        }
        let mut table = [0u8; MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE];
        let mut offset = 0usize;
        for (i, request) in batch.iter().enumerate() {
            let blocks = check_request(request.first(), request_len(request), self.block_count)?;
            let op = match request {
                IoRequest::Read { .. } => BatchOp::Read,
                IoRequest::Write { data, .. } => {
                    self.staging[offset..offset + data.len()].copy_from_slice(data);
                    BatchOp::Write
                }
            };
            let entry = BatchEntry {
                op,
                first: request.first(),
                blocks,
                offset: offset as u64,
            };
            table[i * BATCH_ENTRY_SIZE..(i + 1) * BATCH_ENTRY_SIZE]
                .copy_from_slice(&entry.encode());
            offset += request_len(request);
        }
        let entries = batch.len();
        let result = self.stub.batch(
            entries as u64,
            &table[..entries * BATCH_ENTRY_SIZE],
            &mut self.staging[..total],
        );
        if let Err(e) = result {
            // The failed entry's size, for the block layer's error.
            let failed = match e {
                CallError::Service(e) => e.entry(),
                _ => None,
            };
            let (first, blocks) = failed
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| batch.get(i))
                .map_or((batch[0].first(), 0), |r| (r.first(), r.blocks()));
            return Err(device_error(e, first, blocks));
        }
        let mut offset = 0usize;
        for request in batch.iter_mut() {
            let len = request_len(request);
            if let IoRequest::Read { buf, .. } = request {
                buf.copy_from_slice(&self.staging[offset..offset + len]);
            }
            offset += len;
        }
        Ok(())
    }
}

impl<T: Transport> BlockDevice for DiskClient<T> {
    fn block_count(&self) -> u64 {
        self.block_count
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let blocks = check_request(first, buf.len(), self.block_count)?;
        self.stub
            .read(first, blocks, buf)
            .map_err(|e| device_error(e, first, blocks))
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.write_with(first, data, false)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.stub.flush().map_err(|e| device_error(e, 0, 0))
    }

    /// One FUA write: the driver flushes after the write completed and
    /// replies then (one call instead of a write and a flush).
    fn write_durable(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.write_with(first, data, true)
    }
    fn durable_write_is_one_request(&self) -> bool {
        true
    }

    /// Runs the batch with as many requests in flight at the driver as the
    /// staging buffer allows; requests larger than it go out alone (the
    /// driver splits each request into concurrent device requests itself).
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        let mut start = 0;
        while start < batch.len() {
            if request_len(&batch[start]) > STAGING_BYTES / 2 {
                match &mut batch[start] {
                    IoRequest::Read { first, buf } => self.read(*first, buf)?,
                    IoRequest::Write { first, data } => self.write(*first, data)?,
                }
                start += 1;
                continue;
            }
            let mut end = start;
            let mut bytes = 0;
            while end < batch.len()
                && end - start < MAX_BATCH_ENTRIES
                && request_len(&batch[end]) <= STAGING_BYTES / 2
                && bytes + request_len(&batch[end]) <= STAGING_BYTES
            {
                bytes += request_len(&batch[end]);
                end += 1;
            }
            if end - start == 1 {
                match &mut batch[start] {
                    IoRequest::Read { first, buf } => self.read(*first, buf)?,
                    IoRequest::Write { first, data } => self.write(*first, data)?,
                }
            } else {
                self.batch_call(&mut batch[start..end])?;
            }
            start = end;
        }
        Ok(())
    }
}
