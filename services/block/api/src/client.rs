//! `BlockClient`: `block::Transactional` over IPC to the block service.
//!
//! Each trait call is one IPC round trip; data moves through a lease of the
//! caller's buffer (no copy in the client). `is_allocated` is answered from a
//! window of allocation bits fetched in one call and dropped at the next
//! call of any other kind (fsck and `df` ask for every block in order).
//!
//! Unjournaled writes (`write_fresh`) of consecutive blocks are gathered in
//! a buffer of up to [`FRESH_GATHER`] bytes and sent as one request before
//! the next call of any other kind (or when the run breaks), so the store
//! writes a transaction's chunks to the disk as a few large requests instead
//! of one per chunk. `abort` drops the gathered bytes; an error of a
//! gathered write is reported by the call that sends it (at the latest the
//! commit, which then fails: the transaction is all or nothing either way).

use abi::{lease, Lease, Message};
use block::{DeviceError, Durability, Error, Extent, Transactional, BLOCK_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use userlib::sys;

use crate::{decode_error, BlockRequest};
use abi::proto::Wire;

/// TSC cycles this process spent waiting for the block service (all calls),
/// and the number of calls: where the filesystem service's time goes.
pub static CALL_CYCLES: AtomicU64 = AtomicU64::new(0);
pub static CALLS: AtomicU64 = AtomicU64::new(0);

/// Largest run of unjournaled writes gathered into one request.
pub const FRESH_GATHER: usize = 1 << 20;

/// Blocks per allocation-bit window (one 4 KiB lease of bits).
const BITS_WINDOW: u64 = 8 * 4096;

/// A kernel-level failure of a call (the service died, a bad capability) as
/// the block error the layers above understand: a device failure whose code
/// is `-(1000 + kernel error code)`.
fn kernel_error(e: abi::Error) -> Error {
    Error::Device(DeviceError::Io {
        first: 0,
        code: -(1000 + e as i32),
    })
}

/// A connection to the block service through endpoint capability `slot`.
pub struct BlockClient {
    slot: u64,
    block_count: u64,
    root_start: u64,
    root_slots: u64,
    data_start: u64,
    bits_first: u64,
    bits_len: u64,
    bits: alloc::boxed::Box<[u8; 4096]>,
    /// Gathered `write_fresh` data for blocks `fresh_first..`.
    fresh: alloc::vec::Vec<u8>,
    fresh_first: u64,
    /// Badge to which each transaction is delegated right after `Begin`.
    delegate: Option<u64>,
}

impl BlockClient {
    /// Connects: asks the service for the store's geometry.
    pub fn connect(slot: u64) -> Result<BlockClient, Error> {
        let mut c = BlockClient {
            slot,
            block_count: 0,
            root_start: 0,
            root_slots: 0,
            data_start: 0,
            bits_first: 0,
            bits_len: 0,
            bits: alloc::boxed::Box::new([0u8; 4096]),
            fresh: alloc::vec::Vec::new(),
            fresh_first: 0,
            delegate: None,
        };
        let w = c.call(BlockRequest::Info {}, None)?;
        c.block_count = w[0];
        c.root_start = w[1];
        c.root_slots = w[2];
        c.data_start = w[3];
        Ok(c)
    }

    /// First block after the block layer's own regions and the root slots.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// Sends the gathered unjournaled writes now. A delegate (the content
    /// service) calls it before it answers its caller, who may commit next.
    pub fn send_gathered(&mut self) -> Result<(), Error> {
        self.send_fresh()
    }

    /// Drops the gathered unjournaled writes: a delegate whose request
    /// failed (its caller aborts the transaction they belong to).
    pub fn drop_gathered(&mut self) {
        self.fresh.clear();
    }

    /// Sends the gathered unjournaled writes, if any.
    fn send_fresh(&mut self) -> Result<(), Error> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let first = self.fresh_first;
        let data = lend(&self.fresh);
        let sent = self.call(BlockRequest::WriteFresh { first }, Some(data));
        self.fresh.clear();
        sent.map(|_| ())
    }

    fn call(&mut self, request: BlockRequest, lent: Option<Lease>) -> Result<[u64; 6], Error> {
        if !matches!(request, BlockRequest::WriteFresh { .. }) {
            self.send_fresh()?;
        }
        if !matches!(request, BlockRequest::AllocationBits { .. }) {
            self.bits_len = 0;
        }
        let mut msg = request.to_message();
        if let Some(l) = lent {
            msg.leases[0] = l;
        }
        let mut reply = Message::default();
        let t0 = sys::rdtsc();
        let called = sys::call(self.slot, &msg, &mut reply);
        CALL_CYCLES.fetch_add(sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        called.map_err(kernel_error)?;
        if reply.label != 0 {
            let w = &reply.words;
            return Err(decode_error(reply.label, [w[0], w[1], w[2], w[3]]));
        }
        Ok(reply.words)
    }

    /// Text report `what` (see `crate::report`) into `out`; returns the
    /// bytes written.
    pub fn report(&mut self, what: u64, out: &mut [u8]) -> Result<usize, Error> {
        let w = self.call(BlockRequest::Report { what }, Some(lend_mut(out)))?;
        Ok(usize::try_from(w[0]).unwrap_or(0).min(out.len()))
    }

    /// Delegates every transaction this client begins from now on to the
    /// client with `badge` (see [`BlockClient::delegate`]).
    pub fn set_delegate(&mut self, badge: Option<u64>) {
        self.delegate = badge;
    }

    /// Lets the client with `badge` write, allocate and free in this
    /// client's open transaction until it ends (see the crate doc).
    pub fn delegate(&mut self, badge: u64) -> Result<(), Error> {
        self.call(BlockRequest::Delegate { badge }, None)
            .map(|_| ())
    }

    /// Makes everything durable and empties the journal (before poweroff).
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.call(BlockRequest::Checkpoint {}, None).map(|_| ())
    }
}

fn lend(data: &[u8]) -> Lease {
    Lease {
        addr: data.as_ptr() as u64,
        len: data.len() as u64,
        flags: lease::READ,
    }
}

fn lend_mut(buf: &mut [u8]) -> Lease {
    Lease {
        addr: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        flags: lease::READ | lease::WRITE,
    }
}

fn check_len(len: usize) -> Result<(), Error> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(Error::BadLength { len });
    }
    Ok(())
}

impl Transactional for BlockClient {
    fn block_count(&self) -> u64 {
        self.block_count
    }

    fn root_block(&self, slot: usize) -> u64 {
        assert!(
            (slot as u64) < self.root_slots,
            "root slot {slot} out of 0..{}",
            self.root_slots
        );
        self.root_start + slot as u64
    }

    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        check_len(buf.len())?;
        self.call(BlockRequest::Read { first }, Some(lend_mut(buf)))
            .map(|_| ())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.call(BlockRequest::Begin {}, None)?;
        if let Some(badge) = self.delegate {
            if let Err(e) = self.delegate(badge) {
                let _ = self.call(BlockRequest::Abort {}, None);
                return Err(e);
            }
        }
        Ok(())
    }

    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        check_len(data.len())?;
        self.call(BlockRequest::Write { first }, Some(lend(data)))
            .map(|_| ())
    }

    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        check_len(data.len())?;
        let next = self.fresh_first + (self.fresh.len() / BLOCK_SIZE) as u64;
        if !self.fresh.is_empty() && (first != next || self.fresh.len() + data.len() > FRESH_GATHER)
        {
            self.send_fresh()?;
        }
        if data.len() >= FRESH_GATHER {
            return self
                .call(BlockRequest::WriteFresh { first }, Some(lend(data)))
                .map(|_| ());
        }
        if self.fresh.is_empty() {
            self.fresh_first = first;
        }
        self.fresh.extend_from_slice(data);
        Ok(())
    }

    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        let w = self.call(BlockRequest::Allocate { count }, None)?;
        Ok(Extent::new(w[0], w[1]))
    }

    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.call(
            BlockRequest::Free {
                start: extent.start,
                len: extent.len,
            },
            None,
        )
        .map(|_| ())
    }

    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        if block < self.bits_first || block >= self.bits_first + self.bits_len {
            let first = block;
            // The lease is plain data (address, length): no borrow is held.
            let bits = lend_mut(&mut self.bits[..]);
            let w = self.call(BlockRequest::AllocationBits { first }, Some(bits))?;
            self.bits_first = first;
            self.bits_len = w[0].min(BITS_WINDOW);
            if self.bits_len == 0 {
                return Err(Error::OutOfRange {
                    first: block,
                    blocks: 1,
                    block_count: self.block_count,
                });
            }
        }
        let i = (block - self.bits_first) as usize;
        Ok(self.bits[i / 8] & (1 << (i % 8)) != 0)
    }

    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        let durable = durability == Durability::Durable;
        self.call(BlockRequest::Commit { durable }, None)
            .map(|_| ())
    }

    fn abort(&mut self) {
        // The gathered writes belong to the aborted transaction.
        self.fresh.clear();
        // Nothing to report: the service drops the transaction either way
        // (an error here means it is gone already).
        let _ = self.call(BlockRequest::Abort {}, None);
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.call(BlockRequest::Sync {}, None).map(|_| ())
    }
}
