//! The client: a `block::BlockDevice` over IPC calls to the driver.
//!
//! Single requests lend the caller's own buffer (no copy in the client). A
//! `submit` batch of several requests goes out as `Batch` calls: the
//! requests' data is gathered into one staging buffer (one lease can cover
//! only one buffer) of at most `STAGING_BYTES`; a request larger than that
//! goes out on its own, lending its buffer directly.

use crate::{
    device_error, info_flags, io_code, write_flags, BatchEntry, BatchOp, DriverStats, Request,
    BATCH_ENTRY_SIZE, BLOCK_SIZE, MAX_BATCH_ENTRIES,
};
use abi::proto::Wire;
use abi::{Lease, Message};
use alloc::vec;
use alloc::vec::Vec;
use block::{BlockDevice, DeviceError, IoRequest};
use userlib::ipc::{lend, lend_mut, Endpoint};

/// Largest staging buffer a batch call gathers its data in.
pub const STAGING_BYTES: usize = 512 * 1024;

/// How long a request waits for a dead driver to come back (its
/// supervisor restarts it in the same slot, so the same endpoint reaches
/// the new incarnation) before it fails with `PeerDead`, in milliseconds.
pub const RECONNECT_WAIT_MS: u64 = 3000;

/// Why `BlkClient::connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The kernel refused the call (no such endpoint, driver dead).
    Kernel(abi::Error),
    /// The driver answered `Info` with this status (e.g. no device for the
    /// badge).
    Status(u64),
}

/// A disk served by the virtio-blk driver.
pub struct BlkClient {
    endpoint: Endpoint,
    block_count: u64,
    read_only: bool,
    staging: Vec<u8>,
}

/// Outcome of one call: Ok(reply words) or Err((status, words)).
type Outcome = Result<[u64; 6], (u64, [u64; 6])>;

/// Checks a request against the device size; returns its length in blocks.
fn check_request(first: u64, len: usize, block_count: u64) -> Result<u64, DeviceError> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(DeviceError::BadLength { len });
    }
    let blocks = (len / BLOCK_SIZE) as u64;
    match first.checked_add(blocks) {
        Some(end) if end <= block_count => Ok(blocks),
        _ => Err(DeviceError::OutOfRange {
            first,
            blocks,
            block_count,
        }),
    }
}

fn request_len(request: &IoRequest<'_>) -> usize {
    match request {
        IoRequest::Read { buf, .. } => buf.len(),
        IoRequest::Write { data, .. } => data.len(),
    }
}

fn kernel_error(first: u64, e: abi::Error) -> DeviceError {
    DeviceError::Io {
        first,
        code: io_code::KERNEL_BASE - e as i32,
    }
}

impl BlkClient {
    /// Asks the driver for the disk's size through `endpoint`.
    pub fn connect(endpoint: Endpoint) -> Result<BlkClient, ConnectError> {
        let mut client = BlkClient {
            endpoint,
            block_count: 0,
            read_only: false,
            staging: Vec::new(),
        };
        match client.call(&Request::Info {}, &[]) {
            Ok(Ok(words)) => {
                client.block_count = words[0];
                client.read_only = words[2] & info_flags::READ_ONLY != 0;
                Ok(client)
            }
            Ok(Err((status, _))) => Err(ConnectError::Status(status)),
            Err(e) => Err(ConnectError::Kernel(e)),
        }
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The driver's counters.
    pub fn stats(&mut self) -> Result<DriverStats, DeviceError> {
        match self.call(&Request::Stats {}, &[]) {
            Ok(Ok(w)) => {
                let mut stats = DriverStats::from_words(&w);
                if let Ok(Ok(more)) = self.call(&Request::MoreStats {}, &[]) {
                    stats.direct_pieces = more[0];
                    stats.copied_pieces = more[1];
                    stats.bounced_bytes = more[2];
                }
                Ok(stats)
            }
            Ok(Err((status, words))) => Err(device_error(status, &words, 0)),
            Err(e) => Err(kernel_error(0, e)),
        }
    }

    /// Writes `data` at `first`; with `fua` it is durable when this returns.
    pub fn write_with(&mut self, first: u64, data: &[u8], fua: bool) -> Result<(), DeviceError> {
        let blocks = check_request(first, data.len(), self.block_count)?;
        let flags = if fua { write_flags::FUA } else { 0 };
        let request = Request::Write {
            first,
            blocks,
            flags,
        };
        self.expect_ok(first, blocks, &request, &[lend(data)])
    }

    /// One call to the driver. If the driver is dead the request is sent
    /// again until a restarted driver answers or `RECONNECT_WAIT_MS` pass:
    /// every request is idempotent (a read, a write of the same data to the
    /// same blocks, a flush), and what the dead driver acknowledged had
    /// reached the device, so resending loses and reorders nothing the
    /// block layer relies on (writes are unordered until a flush anyway).
    fn call(&mut self, request: &Request, leases: &[Lease]) -> Result<Outcome, abi::Error> {
        let mut msg = request.to_message();
        msg.leases[..leases.len()].copy_from_slice(leases);
        let mut reply = Message::default();
        let mut dead_since: Option<u64> = None;
        loop {
            match userlib::sys::call(self.endpoint.0, &msg, &mut reply) {
                Ok(()) => break,
                Err(abi::Error::PeerDead) => {
                    let (now, hz) = userlib::sys::ticks();
                    let since = *dead_since.get_or_insert_with(|| {
                        userlib::println!(
                            "virtio-blk client: the driver died; resending the request until it is back (up to {RECONNECT_WAIT_MS} ms)"
                        );
                        now
                    });
                    if (now - since) * 1000 >= RECONNECT_WAIT_MS * hz.max(1) {
                        return Err(abi::Error::PeerDead);
                    }
                    userlib::sys::yield_now();
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(since) = dead_since {
            let (now, hz) = userlib::sys::ticks();
            userlib::println!(
                "virtio-blk client: the driver is back; request resent after {} ms",
                (now - since) * 1000 / hz.max(1)
            );
        }
        Ok(match reply.label {
            0 => Ok(reply.words),
            status => Err((status, reply.words)),
        })
    }

    fn expect_ok(
        &mut self,
        first: u64,
        blocks: u64,
        request: &Request,
        leases: &[Lease],
    ) -> Result<(), DeviceError> {
        match self.call(request, leases) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((status, words))) => Err(device_error(status, &words, blocks)),
            Err(e) => Err(kernel_error(first, e)),
        }
    }

    /// Sends requests `batch[..]` (all of which fit the staging buffer) as
    /// one `Batch` call.
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
        let request = Request::Batch {
            entries: entries as u64,
        };
        let table_lease = lend(&table[..entries * BATCH_ENTRY_SIZE]);
        let data_lease = lend_mut(&mut self.staging[..total]);
        match self.call(&request, &[table_lease, data_lease]) {
            Ok(Ok(_)) => {}
            Ok(Err((status, words))) => {
                let blocks = usize::try_from(words[0])
                    .ok()
                    .and_then(|i| batch.get(i))
                    .map_or(0, |r| r.blocks());
                return Err(device_error(status, &words, blocks));
            }
            Err(e) => return Err(kernel_error(batch[0].first(), e)),
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

impl BlockDevice for BlkClient {
    fn block_count(&self) -> u64 {
        self.block_count
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let blocks = check_request(first, buf.len(), self.block_count)?;
        let request = Request::Read { first, blocks };
        self.expect_ok(first, blocks, &request, &[lend_mut(buf)])
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.write_with(first, data, false)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.expect_ok(0, 0, &Request::Flush {}, &[])
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
