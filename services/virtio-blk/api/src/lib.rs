//! The block protocol of the virtio-blk driver (`virtio-blk-server`) and its
//! client, [`BlkClient`], which implements `block::BlockDevice` so the block
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
//! - Every failure is a status code with the values seen in the reply words;
//!   nothing here panics on what the driver sends.
//!
//! # Requests (`Request`, label = operation)
//!
//! | request | words | leases | reply words |
//! |---|---|---|---|
//! | `Info` | — | — | block count, sector count, flags (`info_flags`), largest request in blocks |
//! | `Read` | first, blocks | 0: buffer, WRITE, ≥ blocks·4096 bytes | — |
//! | `Write` | first, blocks, flags (`write_flags::FUA`) | 0: data, READ | — |
//! | `Flush` | — | — | — |
//! | `Batch` | entries | 0: table of [`BatchEntry`], READ; 1: data, READ+WRITE | — |
//! | `Stats` | — | — | requests, blocks read, blocks written, interrupts, most in flight, TSC cycles spent copying data |
//! | `MoreStats` | — | — | device requests with zero-copy data, device requests copied through DMA buffers, bytes bounced by the HAL |
//!
//! A `Batch` runs its entries concurrently (the device may complete them in
//! any order); each entry names a byte offset into lease 1. An error reply's
//! label is a `status` code and its words are `[entry index, first block,
//! detail]` (detail: the device's block count for `OUT_OF_RANGE`, the
//! virtio status for `IO_ERROR`).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod check;
#[cfg(target_os = "none")]
mod client;
#[cfg(target_os = "none")]
pub use client::{BlkClient, ConnectError};

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
}

impl DriverStats {
    pub fn from_words(w: &[u64; 6]) -> DriverStats {
        DriverStats {
            requests: w[0],
            blocks_read: w[1],
            blocks_written: w[2],
            interrupts: w[3],
            most_in_flight: w[4],
            copy_cycles: w[5],
            ..DriverStats::default()
        }
    }
}

pub use block::BLOCK_SIZE;

abi::protocol! {
    /// A request to the driver; see the table in the crate documentation.
    pub enum Request {
        Info = 1 {},
        Read = 2 { first: u64, blocks: u64 },
        Write = 3 { first: u64, blocks: u64, flags: u64 },
        Flush = 4 {},
        Batch = 5 { entries: u64 },
        Stats = 6 {},
        MoreStats = 7 {},
    }
}

/// Flags of `Request::Write`.
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

/// Status codes: the label of an error reply.
pub mod status {
    /// The request's label or fields are not valid (`Request` decoding).
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

/// Converts an error reply (label `status`, words `[index, first, detail]`)
/// into the block layer's error for a request of `blocks` blocks.
pub fn device_error(status: u64, words: &[u64; 6], blocks: u64) -> block::DeviceError {
    let first = words[1];
    match status {
        status::OUT_OF_RANGE => block::DeviceError::OutOfRange {
            first,
            blocks,
            block_count: words[2],
        },
        status::BAD_LENGTH => block::DeviceError::BadLength {
            len: usize::try_from(blocks)
                .unwrap_or(usize::MAX)
                .saturating_mul(BLOCK_SIZE),
        },
        status::IO_ERROR => block::DeviceError::Io {
            first,
            code: io_code::DEVICE,
        },
        status::READ_ONLY => block::DeviceError::Io {
            first,
            code: io_code::READ_ONLY,
        },
        status::UNSUPPORTED => block::DeviceError::Io {
            first,
            code: io_code::UNSUPPORTED,
        },
        _ => block::DeviceError::Io {
            first,
            code: io_code::PROTOCOL,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::proto::Wire;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Info {},
            Request::Read {
                first: 7,
                blocks: 256,
            },
            Request::Write {
                first: u64::MAX,
                blocks: 1,
                flags: write_flags::FUA,
            },
            Request::Flush {},
            Request::Batch { entries: 64 },
            Request::Stats {},
            Request::MoreStats {},
        ] {
            assert_eq!(Request::decode(&r.to_message()), Ok(r));
        }
    }

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

    #[test]
    fn error_replies_become_device_errors_with_the_values_seen() {
        let words = [0, 100, 64, 0, 0, 0];
        assert_eq!(
            device_error(status::OUT_OF_RANGE, &words, 2),
            block::DeviceError::OutOfRange {
                first: 100,
                blocks: 2,
                block_count: 64
            }
        );
        assert_eq!(
            device_error(status::READ_ONLY, &words, 1),
            block::DeviceError::Io {
                first: 100,
                code: io_code::READ_ONLY
            }
        );
        assert_eq!(
            device_error(999, &words, 1),
            block::DeviceError::Io {
                first: 100,
                code: io_code::PROTOCOL
            }
        );
    }
}
