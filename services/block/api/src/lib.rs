//! The block service's IPC interface, declared once ([`block_store`]:
//! client stubs, the server's trait and dispatch, typed errors
//! [`BlockError`]), and its client [`client::BlockClient`], which implements
//! `block::Transactional` by IPC so the storage libraries run unchanged
//! above it.
//!
//! # Design principles
//! - Block data never travels in words: it is lease 0 of the caller's
//!   buffer (at most [`MAX_TRANSFER`] bytes per call; the client splits
//!   larger requests), which the server copies in bounded pieces
//!   ([`MAX_PIECE_BLOCKS`]).
//! - At most one transaction is open in the service. `begin` from a second
//!   client is answered only when the first commits or aborts (a deferred
//!   reply), so clients need no retry loop.
//! - A transaction belongs to the client that began it (its badge, which
//!   the kernel vouches for) and has a number (`begin` answers it). The
//!   holder may **delegate** it (`delegate`): until it ends, the client with
//!   that badge may `write`, `write_fresh`, `allocate` and `free` in it too
//!   (never commit or abort it, never `begin` while it is open: its `begin`
//!   waits like anyone's). This is how the filesystem service lets the
//!   content service store chunks inside the filesystem's own transaction.
//! - Delegation is bound to the transaction: every transactional call names
//!   the transaction it is for (`tx`; 0 = "the one I hold or am delegated
//!   now", answered with its number, which the client then names). A call
//!   naming a transaction that has ended gets
//!   [`BlockError::StaleTransaction`], so a delegate's late writes never land
//!   in a later transaction, even one delegated to it again.
//! - A holder's commit may arm its next transaction (`commit_armed`): the
//!   first call of the holder or its delegate naming no transaction then
//!   opens it, so the holder's `begin` costs no call of its own. Never
//!   over another client's transaction (refused, not waiting): for a
//!   store with one holder.
//! - A client that dies no longer holds the service: the server watches its
//!   clients' deaths, aborts the transaction a dead holder or delegate was
//!   in (its holder then gets [`BlockError::Aborted`]) and answers the
//!   `begin` calls waiting behind it. Nothing the dead one wrote is kept.
//! - Every failure is a [`BlockError`] with its values in the same reply;
//!   a store error carries the whole `block::Error` ([`encode_error`] /
//!   [`decode_error`]; only `&'static str` names become [`REMOTE_NAME`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod client;
mod codec;

pub use client::BlockClient;
pub use codec::{decode_error, encode_error, REMOTE_NAME};

use abi::iface::Words;

abi::words! {
    /// What `info` answers: the store's geometry.
    pub struct Geometry {
        pub block_count: u64,
        /// First root block, and how many root slots follow it.
        pub root_start: u64,
        pub root_slots: u64,
        /// First block after the block layer's regions and the root slots.
        pub data_start: u64,
    }
}

abi::words! {
    /// What `allocate` answers: the run, and the transaction it is in.
    pub struct Allocated {
        pub start: u64,
        pub len: u64,
        pub tx: u64,
    }
}

abi::words! {
    /// What `report` wrote into lease 0.
    pub struct Reported {
        pub written: u64,
        /// Bytes the full text needs.
        pub needed: u64,
    }
}

abi::interface! {
    /// The block service. Transactional calls name their transaction `tx`
    /// (0: the one the caller holds or is delegated now) and answer the
    /// number of the transaction they went into.
    pub mod block_store {
        /// The store's geometry.
        fn info = 1 () -> Result<Geometry, BlockError>;
        /// Reads blocks `first..` into lease 0 (whole blocks); answers the
        /// blocks read.
        fn read = 2 (first: u64) [0 buf: Write(MAX_TRANSFER as u64)] -> Result<u64, BlockError>;
        /// Opens this client's transaction; waits while another client's is
        /// open. Answers its number.
        fn begin = 3 () -> Result<u64, BlockError>, deferred;
        /// Journaled write of lease 0 to blocks `first..`.
        fn write = 4 (tx: u64, first: u64) [0 data: Read(MAX_TRANSFER as u64)]
            -> Result<u64, BlockError>;
        /// Unjournaled write of lease 0 to blocks allocated in this transaction.
        fn write_fresh = 5 (tx: u64, first: u64) [0 data: Read(MAX_TRANSFER as u64)]
            -> Result<u64, BlockError>;
        /// A run of `count` free blocks, allocated in the transaction.
        fn allocate = 6 (tx: u64, count: u64) -> Result<Allocated, BlockError>;
        fn free = 7 (tx: u64, start: u64, len: u64) -> Result<u64, BlockError>;
        /// Lease 0 receives one bit per block from `first` (bit i of byte
        /// i/8 = block first+i allocated); answers the number of bits.
        fn allocation_bits = 8 (first: u64) [0 bits: Write(BITS_BYTES as u64)]
            -> Result<u64, BlockError>;
        /// Commits; answers the data blocks free after it (the allocator's
        /// count, as `free_blocks` would: the caller's up-front space check
        /// needs no call of its own, issue #13).
        fn commit = 9 (tx: u64, durable: bool) -> Result<u64, BlockError>;
        fn abort = 10 (tx: u64) -> Result<(), BlockError>;
        /// Makes every commit durable.
        fn sync = 11 () -> Result<(), BlockError>;
        /// Writes report `what` (see [`report`]) as text into lease 0.
        fn report = 12 (what: u64) [0 text: Write(REPORT_MAX as u64)] -> Result<Reported, BlockError>;
        /// Makes everything durable and writes journaled blocks home (the
        /// journal is empty afterwards): the shutdown step before poweroff.
        fn checkpoint = 13 () -> Result<(), BlockError>;
        /// The caller (holding transaction `tx`) lets the client with
        /// `badge` write, allocate and free in it until it ends; one
        /// delegate at a time (a new one replaces the old).
        fn delegate = 14 (tx: u64, badge: u64) -> Result<(), BlockError>;
        /// Journaled writes of scattered blocks in one call: lease 0 holds
        /// whole block images (at most [`MAX_SCATTER`]), lease 1 their
        /// block numbers, one little-endian u64 per image, in the same
        /// order (a block named twice: the later image). A number with
        /// [`SCATTER_FRESH`] set is an unjournaled write (`write_fresh`) of
        /// the block the other bits name; one with [`SCATTER_SEALED`] set
        /// (and not `SCATTER_FRESH`) a `write_verified` of a sealed image.
        /// Every number is checked before any block is written.
        fn write_scattered = 25 (tx: u64)
            [0 data: Read(MAX_SCATTER_BYTES as u64), 1 at: Read(MAX_SCATTER_AT as u64)]
            -> Result<u64, BlockError>;
        /// `write_scattered` then `commit`, in one call (the holder's last
        /// writes ride with its commit). If a write fails the transaction
        /// is aborted: nothing of it is kept, and the call answers why.
        /// Answers the free blocks after the commit, as `commit`.
        fn commit_scattered = 26 (tx: u64, durable: bool)
            [0 data: Read(MAX_SCATTER_BYTES as u64), 1 at: Read(MAX_SCATTER_AT as u64)]
            -> Result<u64, BlockError>;
        /// Data blocks free now (the allocator's count).
        fn free_blocks = 27 () -> Result<u64, BlockError>;
        /// `begin`, and `delegate` of the new transaction to `badge`, in one
        /// call; waits like `begin`.
        fn begin_delegated = 28 (badge: u64) -> Result<u64, BlockError>, deferred;
        /// `commit_scattered`, then the
        /// caller's next transaction is *armed*, delegated to `delegate`
        /// ([`NO_DELEGATE`]: to none):
        /// while no transaction is open, the first transactional call of
        /// the caller or of `delegate` that names none (`tx` 0) opens it
        /// (held by the caller, delegated to `delegate`, as
        /// `begin_delegated` would) and goes into it. So the holder's
        /// `begin` costs no call of its own: it rides on whichever call of
        /// its next transaction comes first (issue #13: a small put's is
        /// the content service's allocation). An armed open never waits:
        /// with another client's transaction open the call is refused
        /// (`NotOwner`), as a call outside any transaction was. The arming
        /// ends when it opens a transaction, at the caller's `begin`,
        /// `begin_delegated` or `abort`, or at its death; a failed commit
        /// arms nothing. Nothing is persisted by arming or opening, so
        /// no crash case changes: the commit is `commit_scattered`'s.
        /// Answers the free blocks after the commit, as `commit`.
        fn commit_armed = 29 (tx: u64, durable: bool, delegate: u64)
            [0 data: Read(MAX_SCATTER_BYTES as u64), 1 at: Read(MAX_SCATTER_AT as u64)]
            -> Result<u64, BlockError>;
    }
}

/// `commit_armed`'s `delegate` when the next transaction has none.
pub const NO_DELEGATE: u64 = u64::MAX;

/// Values of `report`'s `what`.
pub mod report {
    /// `block::Stats` (cache, journal, device I/O counts, free blocks).
    pub const STATS: u64 = 0;
    /// The store's recent events (mount, replay, checkpoints).
    pub const EVENTS: u64 = 1;
    /// The block layer's own fsck (superblocks, bitmap, journal).
    pub const FSCK: u64 = 2;
}

/// Largest run of blocks the server moves through its buffer at once.
pub const MAX_PIECE_BLOCKS: usize = 256;

/// Largest data lease of one `read`, `write` or `write_fresh` (16 MiB).
pub const MAX_TRANSFER: usize = 4096 * block::BLOCK_SIZE;

/// Most block images one `write_scattered` or `commit_scattered` carries
/// (256 KiB: the client's gather buffer of journaled writes; a small put
/// writes ~20 distinct blocks).
pub const MAX_SCATTER: usize = 64;
/// Marks a block number of `write_scattered` as an unjournaled write.
pub const SCATTER_FRESH: u64 = 1 << 63;
/// Marks a block number of `write_scattered` as a journaled write of an
/// image its writer sealed for that block (`Transactional::write_verified`:
/// the store journals it under the CRC-32C read off its seal, no pass over
/// its bytes). The client's word, as trusted as its images: an image not
/// sealed so fails recovery's check as a damaged one would (replay stops
/// at its transaction; `JournalGap` if a later commit vouches for it).
/// Only the tree code's own nodes are marked, never bytes a user sent.
pub const SCATTER_SEALED: u64 = 1 << 62;
/// The flag bits of a `write_scattered` block number.
pub const SCATTER_FLAGS: u64 = SCATTER_FRESH | SCATTER_SEALED;
/// Bytes of their images, and of their block numbers.
pub const MAX_SCATTER_BYTES: usize = MAX_SCATTER * block::BLOCK_SIZE;
pub const MAX_SCATTER_AT: usize = MAX_SCATTER * 8;

/// Bytes of one `allocation_bits` window.
pub const BITS_BYTES: usize = 4096;

/// Largest `report` text buffer.
pub const REPORT_MAX: usize = 64 * 1024;

/// A `block::Error` as it crosses: its code and four words ([`encode_error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreFault(pub block::Error);

impl Words for StoreFault {
    const COUNT: usize = 5;
    fn put(&self, out: &mut [u64]) {
        let (code, w) = encode_error(&self.0);
        out[0] = code;
        out[1..5].copy_from_slice(&w);
    }
    fn take(words: &[u64]) -> Option<Self> {
        let w: [u64; 4] = words.get(1..5)?.try_into().ok()?;
        Some(StoreFault(decode_error(*words.first()?, w)))
    }
}

impl core::fmt::Display for StoreFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

abi::errors! {
    /// Everything a block-service call can fail with, in plain words.
    pub enum BlockError {
        /// The store's own error.
        Store = 1 { fault: StoreFault } => "{fault}",
        NotOwner = 2 { owner: u64 }
            => "the open transaction belongs to client {owner}, which has not delegated it to this client",
        StaleTransaction = 3 { tx: u64, open: u64 }
            => "transaction {tx} has ended (open now: {open}, 0 = none); a delegate writes only in the transaction it was delegated",
        Aborted = 4 { tx: u64, delegate: u64 }
            => "transaction {tx} was aborted by the block service: its delegate (client {delegate}) died; nothing of it was kept",
        LeaseCopy = 5 { kernel: abi::Error }
            => "the caller's buffer could not be copied: {kernel}",
        NoReport = 6 { what: u64 } => "the block service has no report {what}",
    }
}

impl BlockError {
    /// The store's error `e`.
    pub fn store(e: block::Error) -> BlockError {
        BlockError::Store {
            fault: StoreFault(e),
        }
    }
}

impl From<block::Error> for BlockError {
    fn from(e: block::Error) -> Self {
        BlockError::store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::iface::ServiceError;

    #[test]
    fn every_block_error_crosses_with_its_values() {
        for e in [
            BlockError::store(block::Error::TransactionTooLarge {
                journal_blocks_needed: 900,
                journal_blocks: 64,
            }),
            BlockError::NotOwner { owner: 3 },
            BlockError::StaleTransaction { tx: 7, open: 8 },
            BlockError::Aborted { tx: 7, delegate: 2 },
            BlockError::LeaseCopy {
                kernel: abi::Error::BadLease,
            },
            BlockError::NoReport { what: 9 },
        ] {
            let mut w = [0u64; abi::MSG_WORDS];
            e.put(&mut w);
            assert_eq!(BlockError::take(e.code(), &w), Some(e));
        }
    }

    #[test]
    fn a_stale_transaction_reads_as_plain_words() {
        let e = BlockError::StaleTransaction { tx: 7, open: 8 };
        assert_eq!(
            e.to_string(),
            "transaction 7 has ended (open now: 8, 0 = none); a delegate writes only in the transaction it was delegated"
        );
        let s = BlockError::store(block::Error::NoSpace);
        assert_eq!(s.to_string(), "no free run of blocks that long");
    }
}
