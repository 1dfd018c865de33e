//! The block service's logic: `block_api::block_store::Server` over a
//! `BlockStore` (the generated dispatch decodes and checks every call; this
//! answers it with a typed result). Plain `no_std` code with no syscalls, so
//! it runs on the host under the fake kernel (`block-api`'s tests); the
//! process around it is `main.rs`.
//!
//! # Invariants
//! - `open` is `Some` exactly when the store has a transaction open; its
//!   holder, number and delegate (the one client besides the holder that may
//!   write, allocate and free in it, never end it) are there.
//! - Transaction numbers only grow (from the `first_tx` the process gives,
//!   distinct per incarnation), so a number names one transaction.
//! - `waiting` holds the `begin` calls of other clients, oldest first; each
//!   is answered when the transaction before it ends (commit, abort, or the
//!   death of its holder or delegate).
//! - `aborted` remembers the holder whose transaction the service aborted
//!   because its delegate died, until that holder calls again: it learns
//!   why ([`BlockError::Aborted`]) instead of a bare "no transaction".
//! - `armed` is the (holder, delegate) whose next transaction opens at
//!   the first call of either naming none (`commit_armed`), while no
//!   transaction is open; at most one, cleared when it opens one and at
//!   the holder's `begin`, `abort` or death.
//! - Block data moves through `piece`, at most `MAX_PIECE_BLOCKS` blocks:
//!   the service's memory does not depend on request sizes.
#![no_std]

extern crate alloc;

mod ops;
#[cfg(feature = "fake")]
pub mod served;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::iface::{Caller, LeaseIn, Pending};
use block::{BlockDevice, BlockStore, Durability, Error, Transactional, BLOCK_SIZE};
use block_api::{
    block_store, report, BlockError, MAX_PIECE_BLOCKS, MAX_SCATTER, NO_DELEGATE, SCATTER_FLAGS,
    SCATTER_FRESH, SCATTER_SEALED,
};

/// Cycles spent handling requests, scheduled to this process (kernel
/// `CPU_TIME`: its own code and syscalls, not the driver's or anyone's
/// meanwhile), and wall (TSC) cycles waiting in the disk driver's calls
/// (kept by the process; reported by `report(STATS)`).
pub static HANDLE_CYCLES: AtomicU64 = AtomicU64::new(0);
pub static DEVICE_CYCLES: AtomicU64 = AtomicU64::new(0);
/// Calls this process made to the disk driver, and bytes its disk client
/// copied into its staging buffer (kept by the process; issue #13).
pub static DEVICE_CALLS: AtomicU64 = AtomicU64::new(0);
pub static DEVICE_STAGED_BYTES: AtomicU64 = AtomicU64::new(0);
/// The disk driver's queue notifications (MMIO writes) since it started,
/// as it said when last asked (the process asks before a `report`).
pub static DRIVER_NOTIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// Deterministic counters of the service (`report(STATS)`, line
/// `counters block:`): what the stack's `copies_per_byte` and
/// `ipc_calls_per_mib` figures are made of.
#[derive(Default)]
struct Counters {
    /// Calls received, by (client badge, operation label).
    calls: BTreeMap<(u64, u64), u64>,
    /// Bytes copied in from clients' leases (`write`, `write_fresh`).
    lease_in: u64,
    /// Bytes copied out to clients' leases (`read`).
    lease_out: u64,
}

/// A waiting `begin` call: badge, the delegate it asked for, the call.
type Waiting<C> = (u64, Option<u64>, Pending<C, u64, BlockError>);

struct Open {
    tx: u64,
    holder: u64,
    delegate: Option<u64>,
}

struct Aborted {
    holder: u64,
    tx: u64,
    delegate: u64,
}

/// What a client's death did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Death {
    /// It held transaction `tx`, which was aborted.
    Holder { tx: u64 },
    /// It was the delegate in `holder`'s transaction `tx`, which was aborted.
    Delegate { tx: u64, holder: u64 },
    /// It held nothing (its waiting `begin` calls, if any, are dropped).
    Nothing,
}

pub struct Service<D: BlockDevice, C: Caller> {
    store: BlockStore<D>,
    open: Option<Open>,
    next_tx: u64,
    waiting: VecDeque<Waiting<C>>,
    aborted: Option<Aborted>,
    /// (holder, delegate) of the armed next transaction (`commit_armed`).
    armed: Option<(u64, u64)>,
    /// Transactions opened by an armed call (for `stats`).
    armed_opens: u64,
    piece: Vec<u8>,
    /// Begin calls that had to wait (for `stats`).
    deferred_begins: u64,
    /// Transactions aborted at their holder's or delegate's death.
    death_aborts: u64,
    counters: Counters,
}

fn lease_error(e: abi::Error) -> BlockError {
    BlockError::LeaseCopy { kernel: e }
}

/// An operation's name in the counters (its label when unknown).
fn op_name(label: u64) -> String {
    use block_store::label as l;
    let name = match label {
        l::info => "info",
        l::read => "read",
        l::begin => "begin",
        l::write => "write",
        l::write_fresh => "write_fresh",
        l::allocate => "allocate",
        l::free => "free",
        l::allocation_bits => "allocation_bits",
        l::commit => "commit",
        l::abort => "abort",
        l::sync => "sync",
        l::report => "report",
        l::checkpoint => "checkpoint",
        l::delegate => "delegate",
        l::write_scattered => "write_scattered",
        l::commit_scattered => "commit_scattered",
        l::free_blocks => "free_blocks",
        l::begin_delegated => "begin_delegated",
        l::commit_armed => "commit_armed",
        other => return format!("op{other}"),
    };
    String::from(name)
}

/// A lease's length in whole blocks.
fn whole_blocks(len: u64) -> Result<u64, BlockError> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(BlockError::store(Error::BadLength {
            len: usize::try_from(len).unwrap_or(usize::MAX),
        }));
    }
    Ok(len / BLOCK_SIZE as u64)
}

impl<D: BlockDevice, C: Caller> Service<D, C> {
    /// Serves `store`; transactions are numbered from `first_tx` (not 0).
    pub fn new(store: BlockStore<D>, first_tx: u64) -> Self {
        Service {
            store,
            open: None,
            next_tx: first_tx.max(1),
            waiting: VecDeque::new(),
            aborted: None,
            armed: None,
            armed_opens: 0,
            piece: vec![0u8; MAX_PIECE_BLOCKS * BLOCK_SIZE],
            deferred_begins: 0,
            death_aborts: 0,
            counters: Counters::default(),
        }
    }

    /// Counts a call received from `badge` for operation `label` (the
    /// process's loop calls it for every call it dispatches).
    pub fn count_call(&mut self, badge: u64, label: u64) {
        *self.counters.calls.entry((badge, label)).or_default() += 1;
    }

    /// The `counters block:` line and the calls by client and operation.
    fn counters_text(&self, text: &mut String) {
        let c = &self.counters;
        let st = self.store.stats();
        let _ = writeln!(
            text,
            "counters block: calls={} lease_in={} lease_out={} fresh_copied={} fresh_direct={} journal_copied={} journal_filled={} staged={} device_calls={}",
            c.calls.values().sum::<u64>(),
            c.lease_in,
            c.lease_out,
            st.fresh_copied_bytes,
            st.fresh_direct_bytes,
            st.journal_copied_bytes,
            st.journal_filled_bytes,
            DEVICE_STAGED_BYTES.load(Ordering::Relaxed),
            DEVICE_CALLS.load(Ordering::Relaxed),
        );
        let mut badge = None;
        for (&(b, label), n) in &c.calls {
            if badge != Some(b) {
                let _ = write!(
                    text,
                    "{}calls from client {b}:",
                    if badge.is_some() { "\n" } else { "" }
                );
                badge = Some(b);
            }
            let _ = write!(text, " {}={n}", op_name(label));
        }
        if badge.is_some() {
            let _ = writeln!(text);
        }
    }

    /// The store served (tests look at its device).
    /// Whether the open transaction's fresh buffer is worth sending while
    /// the service is idle (`BlockStore::fresh_write_back_due`).
    pub fn fresh_write_back_due(&self) -> bool {
        self.store.fresh_write_back_due()
    }

    /// Sends the fresh buffer while no request waits
    /// (`BlockStore::write_back_fresh`). A failure is not lost: the store
    /// turns read-only and logs it, and the transaction's commit fails.
    pub fn write_back_fresh(&mut self) {
        let _ = self.store.write_back_fresh();
    }

    pub fn store(&self) -> &BlockStore<D> {
        &self.store
    }

    /// The store's device itself (the process asks its disk client for the
    /// driver's counters; anything written through it bypasses the store).
    pub fn device_mut_unchecked(&mut self) -> &mut D {
        self.store.device_mut_unchecked()
    }

    /// Stops serving: the store (tests take its device).
    pub fn into_store(self) -> BlockStore<D> {
        self.store
    }

    /// The number of the open transaction, if any.
    pub fn open_transaction(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.tx)
    }

    /// `begin` calls waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The client with `badge` has died: drops its waiting `begin` calls and
    /// aborts the transaction it held or was the delegate in (nothing it
    /// wrote is kept), then answers the next waiting `begin`.
    pub fn client_died(&mut self, badge: u64) -> Death {
        self.waiting.retain(|(b, _, _)| *b != badge);
        if self.aborted.as_ref().is_some_and(|a| a.holder == badge) {
            self.aborted = None;
        }
        self.disarm(badge);
        let death = match &self.open {
            Some(o) if o.holder == badge => Death::Holder { tx: o.tx },
            Some(o) if o.delegate == Some(badge) => {
                self.aborted = Some(Aborted {
                    holder: o.holder,
                    tx: o.tx,
                    delegate: badge,
                });
                Death::Delegate {
                    tx: o.tx,
                    holder: o.holder,
                }
            }
            _ => return Death::Nothing,
        };
        self.store.abort();
        self.open = None;
        self.death_aborts += 1;
        self.start_next();
        death
    }

    /// Opens a transaction for `badge`, delegated to `delegate`.
    fn open_for(&mut self, badge: u64, delegate: Option<u64>) -> Result<u64, BlockError> {
        self.store.begin()?;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.open = Some(Open {
            tx,
            holder: badge,
            delegate,
        });
        Ok(tx)
    }

    /// Answers a `begin` with a new transaction. A caller that cannot be
    /// told (it died meanwhile) would hold it for ever: it is aborted.
    fn grant(&mut self, badge: u64, delegate: Option<u64>, pending: Pending<C, u64, BlockError>) {
        let opened = self.open_for(badge, delegate);
        let failed = opened.is_err();
        if pending.reply(opened).is_err() && !failed {
            self.store.abort();
            self.open = None;
        }
    }

    /// Opens the transaction of the oldest waiting `begin`, if any.
    fn start_next(&mut self) {
        while self.open.is_none() {
            let Some((badge, delegate, pending)) = self.waiting.pop_front() else {
                return;
            };
            self.grant(badge, delegate, pending);
        }
    }

    /// The holder's earlier transaction was aborted at its delegate's
    /// death: said once, on its next call naming it (or naming none).
    fn check_aborted(&mut self, badge: u64, tx: u64) -> Result<(), BlockError> {
        match &self.aborted {
            Some(a) if a.holder == badge && (tx == 0 || tx == a.tx) => {
                let e = BlockError::Aborted {
                    tx: a.tx,
                    delegate: a.delegate,
                };
                self.aborted = None;
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Ends the arming of `holder`'s next transaction, if any.
    fn disarm(&mut self, holder: u64) {
        if self.armed.is_some_and(|(h, _)| h == holder) {
            self.armed = None;
        }
    }

    /// Opens the armed transaction when nothing is open and `badge` is its
    /// holder or delegate (`commit_armed`); otherwise nothing.
    fn open_armed(&mut self, badge: u64) -> Result<(), BlockError> {
        match self.armed {
            Some((holder, delegate))
                if self.open.is_none()
                    && (badge == holder || (badge == delegate && delegate != NO_DELEGATE)) =>
            {
                self.armed = None;
                self.open_for(holder, Some(delegate).filter(|&d| d != NO_DELEGATE))?;
                self.armed_opens += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The open transaction if `badge` may write in it (holder or
    /// delegate) and `tx` names it (or is 0: then an armed transaction
    /// of `badge`'s opens, if none is open).
    fn writable(&mut self, badge: u64, tx: u64) -> Result<u64, BlockError> {
        self.check_aborted(badge, tx)?;
        if tx == 0 {
            self.open_armed(badge)?;
        }
        let Some(o) = &self.open else {
            return Err(match tx {
                0 => BlockError::store(Error::NoTransaction),
                tx => BlockError::StaleTransaction { tx, open: 0 },
            });
        };
        if tx != 0 && tx != o.tx {
            return Err(BlockError::StaleTransaction { tx, open: o.tx });
        }
        if o.holder == badge || o.delegate == Some(badge) {
            Ok(o.tx)
        } else {
            Err(BlockError::NotOwner { owner: o.holder })
        }
    }

    /// As `writable`, for the holder only (commit, abort, delegate).
    fn held(&mut self, badge: u64, tx: u64) -> Result<&mut Open, BlockError> {
        self.writable(badge, tx)?;
        match self.open.as_mut() {
            Some(o) if o.holder == badge => Ok(o),
            Some(o) => Err(BlockError::NotOwner { owner: o.holder }),
            None => Err(BlockError::store(Error::NoTransaction)),
        }
    }

    fn end(&mut self) {
        self.open = None;
        self.start_next();
    }

    fn report_text(&mut self, what: u64) -> Result<String, BlockError> {
        let mut text = String::new();
        match what {
            report::STATS => {
                let _ = write!(text, "{}", self.store.stats());
                let _ = writeln!(
                    text,
                    "service: transaction {}, {} begin calls waited, {} waiting now, {} opened armed; {} Mcycles scheduled to the block process handling requests (its own code and syscalls), {} Mcycles wall waiting for the disk driver in {} calls ({} writes flushed in the same call; {} queue notifications by the driver); {} images journaled ({} read off their seal) in {} commits; {} transactions aborted at a client's death",
                    if self.open.is_some() { "open" } else { "closed" },
                    self.deferred_begins,
                    self.waiting.len(),
                    self.armed_opens,
                    HANDLE_CYCLES.load(Ordering::Relaxed) / 1_000_000,
                    DEVICE_CYCLES.load(Ordering::Relaxed) / 1_000_000,
                    DEVICE_CALLS.load(Ordering::Relaxed),
                    self.store.stats().device_durable_writes,
                    DRIVER_NOTIFICATIONS.load(Ordering::Relaxed),
                    self.store.stats().journal_images,
                    self.store.stats().journal_sealed_images,
                    self.store.stats().commits_durable + self.store.stats().commits_batched,
                    self.death_aborts,
                );
                self.counters_text(&mut text);
            }
            report::EVENTS => {
                for e in self.store.events() {
                    let _ = writeln!(text, "{e}");
                }
            }
            report::FSCK => {
                if self.open.is_some() {
                    return Err(BlockError::store(Error::TransactionOpen));
                }
                let r = self.store.check()?;
                let _ = write!(text, "{r}");
                if r.is_clean() {
                    text = format!("block layer clean\n{text}");
                }
            }
            what => return Err(BlockError::NoReport { what }),
        }
        Ok(text)
    }

    /// Writes lease data to blocks `first..` (journaled or fresh), piece by
    /// piece. Fresh data is read from the lease straight into the store's
    /// fresh buffer (`write_fresh_with`): no copy through `piece`.
    fn write_blocks(
        &mut self,
        first: u64,
        data: &LeaseIn<'_, C>,
        fresh: bool,
    ) -> Result<(), BlockError> {
        let blocks = whole_blocks(data.len())?;
        let mut done = 0u64;
        while done < blocks {
            let n = (blocks - done).min(MAX_PIECE_BLOCKS as u64);
            let bytes = n as usize * BLOCK_SIZE;
            let at = first.checked_add(done).ok_or(Error::OutOfRange {
                first,
                blocks,
                block_count: self.store.block_count(),
            })?;
            let from = done * BLOCK_SIZE as u64;
            if fresh {
                self.store.write_fresh_with(at, bytes, |buf| {
                    match data.read(from, buf).map_err(lease_error)? {
                        got if got == bytes => Ok(()),
                        // The lease is shorter than its declared blocks.
                        _ => Err(BlockError::LeaseCopy {
                            kernel: abi::Error::BadLease,
                        }),
                    }
                })??;
                self.counters.lease_in += bytes as u64;
                done += n;
                continue;
            }
            let got = data
                .read(done * BLOCK_SIZE as u64, &mut self.piece[..bytes])
                .map_err(lease_error)?;
            self.counters.lease_in += got as u64;
            if got != bytes {
                // The lease is shorter than its declared blocks.
                return Err(BlockError::LeaseCopy {
                    kernel: abi::Error::BadLease,
                });
            }
            self.store.write(at, &self.piece[..bytes])?;
            done += n;
        }
        Ok(())
    }
}

impl<D: BlockDevice, C: Caller> Service<D, C> {
    /// Journaled writes of the images in `data` to the blocks `at` names
    /// (`write_scattered`). Every block number is checked before the first
    /// write, so a bad request writes nothing.
    fn write_scattered_blocks(
        &mut self,
        data: &LeaseIn<'_, C>,
        at: &LeaseIn<'_, C>,
    ) -> Result<(), BlockError> {
        let blocks = whole_blocks(data.len())?;
        let n = usize::try_from(blocks).unwrap_or(usize::MAX);
        if n > MAX_SCATTER || at.len() != blocks * 8 {
            return Err(BlockError::store(Error::BadLength {
                len: usize::try_from(at.len()).unwrap_or(usize::MAX),
            }));
        }
        let mut numbers = [0u8; MAX_SCATTER * 8];
        if at.read(0, &mut numbers[..n * 8]).map_err(lease_error)? != n * 8 {
            return Err(BlockError::LeaseCopy {
                kernel: abi::Error::BadLease,
            });
        }
        let count = self.store.block_count();
        let block = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&numbers[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        if let Some(bad) = (0..n).map(block).find(|&b| b & !SCATTER_FLAGS >= count) {
            return Err(BlockError::store(Error::OutOfRange {
                first: bad,
                blocks: 1,
                block_count: count,
            }));
        }
        // Each image is read from the lease straight into the buffer the
        // store keeps it in (the transaction's, or the fresh buffer): one
        // LEASE_READ per image, no copy of the service's own (issue #13).
        // The lease's length was checked above; a read that still comes
        // short (a lease the kernel no longer honours) fails the call with
        // the images before it written, as a failed store write does.
        for i in 0..n {
            let from = (i * BLOCK_SIZE) as u64;
            let fill = |buf: &mut [u8]| match data.read(from, buf).map_err(lease_error)? {
                BLOCK_SIZE => Ok(()),
                _ => Err(BlockError::LeaseCopy {
                    kernel: abi::Error::BadLease,
                }),
            };
            match block(i) {
                b if b & SCATTER_FRESH != 0 => {
                    self.store
                        .write_fresh_with(b & !SCATTER_FLAGS, BLOCK_SIZE, fill)??
                }
                b if b & SCATTER_SEALED != 0 => self
                    .store
                    .write_sealed_block_with(b & !SCATTER_FLAGS, fill)??,
                b => self.store.write_block_with(b, fill)??,
            }
            self.counters.lease_in += BLOCK_SIZE as u64;
        }
        Ok(())
    }

    /// Opens `badge`'s transaction (delegated to `delegate`), or queues
    /// the call while another client's is open.
    fn begin_for(
        &mut self,
        badge: u64,
        delegate: Option<u64>,
        pending: Pending<C, u64, BlockError>,
    ) {
        // A holder told of its aborted transaction by beginning anew.
        if self.aborted.as_ref().is_some_and(|a| a.holder == badge) {
            self.aborted = None;
        }
        // An explicit begin supersedes the arming.
        self.disarm(badge);
        match &self.open {
            None => self.grant(badge, delegate, pending),
            Some(o) if o.holder == badge => {
                let _ = pending.reply(Err(BlockError::store(Error::TransactionOpen)));
            }
            Some(_) => {
                // Deferred: answered when the current transaction ends.
                self.deferred_begins += 1;
                self.waiting.push_back((badge, delegate, pending));
            }
        }
    }

    /// Commits the open transaction (held by the caller) and ends it;
    /// answers the data blocks free after it (every allocation and free of
    /// the transaction, its delegate's too, is in the count).
    fn commit_open(&mut self, durable: bool) -> Result<u64, BlockError> {
        let d = if durable {
            Durability::Durable
        } else {
            Durability::Batched
        };
        let result = self.store.commit(d);
        // A failed commit ends the transaction too (after a failed write or
        // flush the store is read-only); make sure none stays open.
        if result.is_err() {
            self.store.abort();
        }
        let free = self.store.stats().free_blocks;
        self.end();
        result?;
        Ok(free)
    }
}
