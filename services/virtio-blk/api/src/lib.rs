//! The block protocol of the virtio-blk driver (`virtio-blk-server`) and its
//! client, `BlkClient` ([`DiskClient`] over an IPC endpoint), which implements `block::BlockDevice` so the block
//! service can mount its journal store on a real disk.
//!
//! Design principles:
//! - Data never travels in message words: a read lends the caller's buffer
//!   for writing, a write lends it for reading, and the driver moves the
//!   bytes between the lease and its DMA buffers (`LEASE_READ`/`LEASE_WRITE`).
//! - The device a client reaches is fixed by its capability: the badge of the
//!   endpoint (from the boot configuration) is the index of the disk in PCI
//!   order, so a client can reach only the disk it was given.
//! - Blocks are `block::BLOCK_SIZE` (4096) bytes; the 512-byte sectors of the
//!   device never show in the protocol.
//! - One declaration ([`blk`], `abi::interface!`) gives the client stubs
//!   and the driver's dispatch; every failure is a typed [`BlkError`] with
//!   the values seen, in the same reply (see `abi::iface`).
//!
//! # Operations (`blk`, see the declaration for the leases and limits)
//!
//! | operation | arguments | leases | reply |
//! |---|---|---|---|
//! | `info` | — | — | [`Info`] |
//! | `read` | first, blocks | 0: buffer, written by the driver, ≥ blocks·4096 bytes | — |
//! | `write` | first, blocks, flags (`write_flags::FUA`) | 0: data, read by the driver | — |
//! | `flush` | — | — | — |
//! | `batch` | entries | 0: table of [`BatchEntry`], read; 1: data, read and written | — |
//! | `stats` | — | — | [`Stats`] |
//! | `more_stats` | — | — | [`MoreStats`] |
//!
//! A `batch` runs its entries concurrently (the device may complete them in
//! any order); each entry names a byte offset into lease 1. Its errors name
//! the entry (`entry`, 0 for single requests) and its first block.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod check;
mod client;
mod error;
#[cfg(target_os = "none")]
mod resend;
pub use client::{ConnectError, DiskClient, STAGING_BYTES};
pub use error::BlkError;
#[cfg(target_os = "none")]
pub use resend::{Resending, RECONNECT_WAIT_MS};

/// The driver over its IPC endpoint (the bare-metal client), resending a
/// request that met a dead driver until a restarted one answers.
#[cfg(target_os = "none")]
pub type BlkClient = DiskClient<Resending>;

/// The driver's counters (`Request::Stats`), since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Calls served.
    pub requests: u64,
    pub blocks_read: u64,
    pub blocks_written: u64,
    /// Interrupt notifications handled.
    pub interrupts: u64,
    /// Most device requests in flight at once.
    pub most_in_flight: u64,
    /// TSC cycles spent moving data between leases and DMA buffers.
    pub copy_cycles: u64,
    /// Device requests whose data the device moved straight to or from the
    /// client's memory (zero copy).
    pub direct_pieces: u64,
    /// Device requests whose data was copied through a DMA buffer.
    pub copied_pieces: u64,
    /// Bytes the HAL copied through its bounce pool (descriptor tables).
    pub bounced_bytes: u64,
    /// Queue notifications (MMIO writes) the driver made: at most one per
    /// disk per wake-up of the driver, however many requests it started.
    pub notifications: u64,
}

pub use block::BLOCK_SIZE;

/// Largest transfer the protocol can name (the `Info` limit, in bytes).
pub const MAX_TRANSFER: u64 = u32::MAX as u64 * BLOCK_SIZE as u64;

abi::words! {
    /// The disk, as `info` answers.
    pub struct Info {
        pub block_count: u64,
        /// 512-byte sectors.
        pub sectors: u64,
        /// `info_flags`.
        pub flags: u64,
        /// Largest request in blocks.
        pub max_blocks: u64,
    }
}

abi::words! {
    /// The driver's counters, as `stats` answers.
    pub struct Stats {
        pub requests: u64,
        pub blocks_read: u64,
        pub blocks_written: u64,
        pub interrupts: u64,
        pub most_in_flight: u64,
        pub copy_cycles: u64,
    }
}

abi::words! {
    /// The rest of the counters, as `more_stats` answers.
    pub struct MoreStats {
        pub direct_pieces: u64,
        pub copied_pieces: u64,
        pub bounced_bytes: u64,
        /// Queue notifications (MMIO writes to the device) made.
        pub notifications: u64,
    }
}

abi::interface! {
    /// The driver's interface; see the table in the crate documentation.
    pub mod blk {
        /// The disk's size and flags.
        fn info = 1 () -> Result<Info, BlkError>;
        /// Reads `blocks` blocks from `first` into `buf`.
        fn read = 2 (first: u64, blocks: u64) [0 buf: Write(MAX_TRANSFER)]
            -> Result<(), BlkError>, deferred;
        /// Writes `blocks` blocks at `first` from `data`; with
        /// `write_flags::FUA` durable when answered.
        fn write = 3 (first: u64, blocks: u64, flags: u64) [0 data: Read(MAX_TRANSFER)]
            -> Result<(), BlkError>, deferred;
        /// Empties the device's write cache.
        fn flush = 4 () -> Result<(), BlkError>, deferred;
        /// `entries` requests at once (table in lease 0, data in lease 1).
        fn batch = 5 (entries: u64)
            [0 table: Read(BATCH_TABLE_MAX), 1 data: ReadWrite(MAX_TRANSFER)]
            -> Result<(), BlkError>, deferred;
        fn stats = 6 () -> Result<Stats, BlkError>;
        fn more_stats = 7 () -> Result<MoreStats, BlkError>;
    }
}

/// Flags of `write`.
pub mod write_flags {
    /// Force unit access: the write is durable when the reply comes (the
    /// driver flushes the device's write cache after it).
    pub const FUA: u64 = 1;
    pub const ALL: u64 = FUA;
}

/// Flags in the `Info` reply.
pub mod info_flags {
    /// The device refuses writes.
    pub const READ_ONLY: u64 = 1;
    /// The device has a volatile write cache that `Flush` empties.
    pub const FLUSH: u64 = 2;
}

/// The codes of [`BlkError`]'s variants (the label of an error reply), as
/// the driver's checks and scheduler name them.
pub mod status {
    /// A field of the request (flags, a batch entry) is not valid.
    pub const BAD_REQUEST: u64 = 1;
    /// The request reaches past the end of the device.
    pub const OUT_OF_RANGE: u64 = 2;
    /// Zero blocks, a lease shorter than the request, or a batch too long.
    pub const BAD_LENGTH: u64 = 3;
    /// The device reported an I/O error.
    pub const IO_ERROR: u64 = 4;
    /// A write to a read-only device.
    pub const READ_ONLY: u64 = 5;
    /// The device does not support the operation.
    pub const UNSUPPORTED: u64 = 6;
    /// The badge names no disk.
    pub const NO_DEVICE: u64 = 7;
    /// The kernel refused a lease copy (the caller's lease is unusable).
    pub const BAD_LEASE: u64 = 8;
}

/// Longest batch table the driver accepts.
pub const MAX_BATCH_ENTRIES: usize = 64;
/// Largest batch table (lease 0 of `batch`).
pub const BATCH_TABLE_MAX: u64 = (MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE) as u64;

/// The `DeviceError::Io` codes the client reports (`code` field).
pub mod io_code {
    /// The device reported an I/O error (`status::IO_ERROR`).
    pub const DEVICE: i32 = 1;
    /// Write to a read-only device (`status::READ_ONLY`).
    pub const READ_ONLY: i32 = 2;
    /// The device does not support the request (`status::UNSUPPORTED`).
    pub const UNSUPPORTED: i32 = 3;
    /// The driver answered with a status this client does not know, or
    /// refused the request as malformed.
    pub const PROTOCOL: i32 = 4;
    /// The kernel refused the call (e.g. the driver has died): the code is
    /// `-(abi::Error as i32)`.
    pub const KERNEL_BASE: i32 = 0;
}

/// Operation of a batch entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOp {
    Read = 1,
    Write = 2,
}

/// One entry of a `Batch` table: 32 bytes, little-endian.
///
/// ```text
/// offset  size  field
///  0      8     op (1 read, 2 write)
///  8      8     first block
/// 16      8     blocks
/// 24      8     byte offset of the entry's data in lease 1
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    pub op: BatchOp,
    pub first: u64,
    pub blocks: u64,
    pub offset: u64,
}

const OP_OFFSET: usize = 0;
const FIRST_OFFSET: usize = 8;
const BLOCKS_OFFSET: usize = 16;
const DATA_OFFSET: usize = 24;
pub const BATCH_ENTRY_SIZE: usize = 32;
const _: () = assert!(DATA_OFFSET + 8 == BATCH_ENTRY_SIZE);

/// Why a batch entry's bytes are not a valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// Fewer than `BATCH_ENTRY_SIZE` bytes.
    Short { len: usize },
    /// The op field holds this unknown value.
    BadOp { op: u64 },
    /// Zero blocks.
    NoBlocks,
}

fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let field: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(field))
}

impl BatchEntry {
    pub fn encode(&self) -> [u8; BATCH_ENTRY_SIZE] {
        let mut out = [0u8; BATCH_ENTRY_SIZE];
        for (at, value) in [
            (OP_OFFSET, self.op as u64),
            (FIRST_OFFSET, self.first),
            (BLOCKS_OFFSET, self.blocks),
            (DATA_OFFSET, self.offset),
        ] {
            out[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Decodes an entry the caller sent (unverified bytes).
    pub fn decode(bytes: &[u8]) -> Result<BatchEntry, EntryError> {
        let short = EntryError::Short { len: bytes.len() };
        let op = word_at(bytes, OP_OFFSET).ok_or(short)?;
        let first = word_at(bytes, FIRST_OFFSET).ok_or(short)?;
        let blocks = word_at(bytes, BLOCKS_OFFSET).ok_or(short)?;
        let offset = word_at(bytes, DATA_OFFSET).ok_or(short)?;
        let op = match op {
            1 => BatchOp::Read,
            2 => BatchOp::Write,
            op => return Err(EntryError::BadOp { op }),
        };
        if blocks == 0 {
            return Err(EntryError::NoBlocks);
        }
        Ok(BatchEntry {
            op,
            first,
            blocks,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_entries_round_trip_at_fixed_offsets() {
        let e = BatchEntry {
            op: BatchOp::Write,
            first: 0x0102_0304,
            blocks: 3,
            offset: 8192,
        };
        let bytes = e.encode();
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[8..12], &[4, 3, 2, 1]);
        assert_eq!(bytes[16], 3);
        assert_eq!(&bytes[24..26], &[0, 0x20]);
        assert_eq!(BatchEntry::decode(&bytes), Ok(e));
    }

    #[test]
    fn bad_batch_entries_are_errors_not_panics() {
        let mut bytes = BatchEntry {
            op: BatchOp::Read,
            first: 1,
            blocks: 1,
            offset: 0,
        }
        .encode();
        assert_eq!(
            BatchEntry::decode(&bytes[..31]),
            Err(EntryError::Short { len: 31 })
        );
        bytes[0] = 9;
        assert_eq!(BatchEntry::decode(&bytes), Err(EntryError::BadOp { op: 9 }));
        bytes[0] = 1;
        bytes[16] = 0;
        assert_eq!(BatchEntry::decode(&bytes), Err(EntryError::NoBlocks));
    }
}
