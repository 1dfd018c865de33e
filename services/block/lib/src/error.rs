//! The block layer's error: one enum for every operation of [`crate::Transactional`]
//! and of mount/format, each variant naming the values seen.

use core::fmt;

use crate::DeviceError;

/// What was wrong with a block read from the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// The stored checksum does not match the contents.
    Checksum { stored: u32, computed: u32 },
    /// The block does not start with the expected magic number.
    Magic { expected: u32, found: u32 },
    /// A field holds a value the format does not allow.
    Field { name: &'static str, value: u64 },
    /// A structure owned by an upper layer failed its own check.
    Upper { what: &'static str },
    /// Journal transaction `seq` is damaged beyond repair, yet the commit
    /// of the later `later_seq` vouches that it was durable: replaying only
    /// the transactions before it would roll back acknowledged work.
    JournalGap { seq: u64, later_seq: u64 },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::Magic { expected, found } => {
                write!(f, "bad magic {found:#010x} (expected {expected:#010x})")
            }
            Self::Field { name, value } => write!(f, "field {name} has impossible value {value}"),
            Self::Upper { what } => write!(f, "{what}"),
            Self::JournalGap { seq, later_seq } => write!(
                f,
                "journal transaction {seq} was durable (transaction {later_seq} after it says so) but is damaged beyond repair; refusing to mount rather than roll back acknowledged work"
            ),
        }
    }
}

/// Every way a block-layer operation can fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The device failed or refused a request.
    Device(DeviceError),
    /// A block read from the disk failed its checks; its contents are never
    /// returned as data.
    Corrupt { block: u64, detail: Corruption },
    /// No run of free blocks as long as the one asked for.
    NoSpace,
    /// The request reaches past the end of the store.
    OutOfRange {
        first: u64,
        blocks: u64,
        block_count: u64,
    },
    /// A buffer length that is zero or not a multiple of BLOCK_SIZE.
    BadLength { len: usize },
    /// `write`, `write_fresh`, `allocate`, `free` or `commit` without `begin`.
    NoTransaction,
    /// `begin` while a transaction is open (or `sync` inside one).
    TransactionOpen,
    /// The transaction no longer fits in the journal.
    TransactionTooLarge {
        journal_blocks_needed: u64,
        journal_blocks: u64,
    },
    /// A write to a block that belongs to the block layer itself.
    Reserved { block: u64 },
    /// A journaled write or free of a block that is not allocated.
    NotAllocated { block: u64 },
    /// `write_fresh` to a block not allocated in the open transaction.
    NotFresh { block: u64 },
    /// The device holds no block store (no valid superblock, both copies blank).
    NotFormatted,
    /// The superblock names a format version this code does not read.
    UnsupportedVersion { found: u32, supported: u32 },
    /// The device is smaller than the superblock says, or too small to format.
    DeviceTooSmall { block_count: u64, needed: u64 },
    /// A configuration value out of its allowed range.
    BadConfig { name: &'static str, value: u64 },
    /// The device failed a write or a flush, so what is on the disk may
    /// lag behind what was committed: the store refuses every change until
    /// it is mounted again (like ext4's `errors=remount-ro`). Reads of
    /// committed data still work.
    ReadOnly(WriteFault),
    /// Mount could not write the replayed journal home (the disk failed a
    /// write) and holding its `blocks` distinct images in memory for a
    /// read-only mount would pass the `limit`.
    ReplayTooLarge { blocks: u64, limit: u64 },
}

/// Which device request failed and turned the store read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    Write,
    Flush,
}

/// The device failure that turned the store read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteFault {
    pub op: FaultOp,
    /// First block of the failed write (0 for a flush).
    pub block: u64,
    /// The device's `DeviceError::Io` code; 0 when the device refused the
    /// request for another reason (out of range, bad length, powered off).
    pub code: i32,
}

impl WriteFault {
    pub fn new(op: FaultOp, block: u64, e: &DeviceError) -> Self {
        let (block, code) = match *e {
            DeviceError::Io { first, code } => (first, code),
            DeviceError::OutOfRange { first, .. } => (first, 0),
            _ => (block, 0),
        };
        WriteFault {
            op,
            block: if op == FaultOp::Flush { 0 } else { block },
            code,
        }
    }
}

impl fmt::Display for WriteFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            FaultOp::Write => write!(f, "the disk failed a write at block {}", self.block),
            FaultOp::Flush => write!(f, "the disk failed a flush"),
        }
    }
}

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        Error::Device(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => write!(f, "{e}"),
            Self::Corrupt { block, detail } => write!(f, "block {block} is corrupt: {detail}"),
            Self::NoSpace => write!(f, "no free run of blocks that long"),
            Self::OutOfRange { first, blocks, block_count } => write!(
                f,
                "{blocks} blocks at {first} reach past the end of the store ({block_count} blocks)"
            ),
            Self::BadLength { len } => {
                write!(f, "buffer of {len} bytes is not a non-zero multiple of the block size")
            }
            Self::NoTransaction => write!(f, "no transaction is open"),
            Self::TransactionOpen => write!(f, "a transaction is already open"),
            Self::ReplayTooLarge { blocks, limit } => write!(
                f,
                "the disk failed a write while replaying the journal, and a read-only mount would hold {blocks} or more replayed blocks in memory, more than its limit of {limit}; the journal is untouched"
            ),
            Self::TransactionTooLarge { journal_blocks_needed, journal_blocks } => write!(
                f,
                "transaction needs {journal_blocks_needed} journal blocks, the journal has {journal_blocks}"
            ),
            Self::Reserved { block } => write!(f, "block {block} belongs to the block layer"),
            Self::NotAllocated { block } => write!(f, "block {block} is not allocated"),
            Self::NotFresh { block } => {
                write!(f, "block {block} was not allocated in this transaction")
            }
            Self::NotFormatted => write!(f, "no block store on this device"),
            Self::UnsupportedVersion { found, supported } => {
                write!(f, "format version {found} is not supported (this code reads {supported})")
            }
            Self::DeviceTooSmall { block_count, needed } => {
                write!(f, "device has {block_count} blocks, {needed} needed")
            }
            Self::BadConfig { name, value } => write!(f, "configuration {name} = {value} is out of range"),
            Self::ReadOnly(fault) => {
                write!(f, "{fault}; the store is read-only until the next boot")
            }
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for Corruption {}
