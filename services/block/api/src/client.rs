//! `BlockClient`: `block::Transactional` over the `block_store` stubs.
//!
//! Each trait call is one IPC round trip (a read or write of more than
//! [`MAX_TRANSFER`] bytes is a few); data moves through a lease of the
//! caller's buffer (no copy in the client). `is_allocated` is answered from
//! a window of allocation bits fetched in one call and dropped at the next
//! call of any other kind (fsck and `df` ask for every block in order).
//!
//! Unjournaled writes (`write_fresh`) of consecutive blocks are gathered in
//! a buffer of up to [`FRESH_GATHER`] bytes and sent as one request when
//! the run breaks, before a read, write or free of a gathered block, and
//! before any call that ends or reports on the transaction (commit, abort,
//! sync, delegate, report, checkpoint, `send_gathered`), so the store
//! writes a transaction's chunks to the disk as a few large requests
//! instead of one per chunk. Allocations and calls about other blocks do
//! not send it: the content store allocates each chunk's extent just
//! before writing it, and sending there made every chunk its own call
//! (issue #13). `abort` drops the gathered bytes; an error of a gathered
//! write is reported by the call that sends it (at the latest the commit,
//! which then fails: the transaction is all or nothing either way).
//!
//! Journaled writes (`write`) are gathered too, one image per block (a
//! block written again in the same transaction replaces its image: a
//! small put rewrites the same few tree nodes ~20 times), up to
//! [`MAX_SCATTER`] blocks, and sent as one `write_scattered` call when the
//! buffer is full, before a free or unjournaled write of a gathered block,
//! before a read of several blocks that touches one (a one-block read of a
//! gathered block is answered from the buffer: the transaction's own
//! image, as the service would answer), and before the calls listed
//! above; the holder's commit carries them (`commit_scattered`: the writes
//! and the commit in one round trip, the transaction aborted if a write
//! fails). A delegate gathers only once it knows its transaction (its
//! first write of a request is sent at once and answers it), so gathered
//! writes sent late name their transaction and are refused, as below.
//! Nothing is durable before the commit either way, so gathering
//! changes no guarantee: the service sees the same final images in the
//! same transaction (issue #13: a small put made ~22 write calls).
//!
//! The transaction a call is for: the holder names the number `begin`
//! answered; a delegate names 0 on its first transactional call of a
//! request (the service answers the number of the transaction it is
//! delegated) and that number until the request ends (`send_gathered` /
//! `drop_gathered`), so a late write of an ended transaction is refused.
//!
//! Generic over the transport, so it runs on the host against a fake.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use abi::iface::{CallError, Transport};
use block::{DeviceError, Error, BLOCK_SIZE};

use crate::{
    block_store as stub, BlockError, Geometry, BITS_BYTES, MAX_SCATTER, REPORT_MAX, SCATTER_FLAGS,
    SCATTER_FRESH, SCATTER_SEALED,
};

mod transactional;
/// Largest run of unjournaled writes gathered into one request.
pub const FRESH_GATHER: usize = 1 << 20;

/// Gathered unjournaled writes of at most this many blocks (a small blob,
/// a link, a manifest) are sent as journaled writes: the journal takes
/// them with the metadata that makes them reachable, so the commit needs
/// no ordered-data flush before its record.
pub const JOURNALED_FRESH_BLOCKS: usize = 8;

/// Blocks per allocation-bit window.
const BITS_WINDOW: u64 = 8 * BITS_BYTES as u64;

/// The transport `BlockClient` uses unless told otherwise: the IPC endpoint,
/// with the time spent waiting counted (the host has none; tests name
/// their fake).
#[cfg(target_os = "none")]
pub type DefaultTransport = Counted;
#[cfg(not(target_os = "none"))]
pub type DefaultTransport = ();

#[cfg(target_os = "none")]
pub use counted::{service_died, Counted, CALLS, CALL_CYCLES};

#[cfg(target_os = "none")]
mod counted {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use abi::{Error, Message};
    use userlib::ipc::Endpoint;
    use userlib::sys;

    /// Wall (TSC) cycles this process spent waiting for the block service
    /// (all calls: the block service's work and whatever else ran
    /// meanwhile), and the number of calls: where the filesystem's time goes.
    pub static CALL_CYCLES: AtomicU64 = AtomicU64::new(0);
    pub static CALLS: AtomicU64 = AtomicU64::new(0);
    /// A call found the block service dead since [`service_died`] last looked.
    static DIED: AtomicBool = AtomicBool::new(false);

    /// Whether a call of this process found the block service dead since
    /// the last time this was asked. The supervisor restarts it in the same
    /// slot; state built on the dead incarnation (a mounted filesystem,
    /// an open transaction) must be built again.
    pub fn service_died() -> bool {
        DIED.swap(false, Ordering::Relaxed)
    }

    /// An endpoint whose calls are timed into [`CALL_CYCLES`].
    #[derive(Clone, Copy, Debug)]
    pub struct Counted(pub Endpoint);

    impl abi::iface::Transport for Counted {
        fn call(&self, msg: &Message) -> Result<Message, Error> {
            let t0 = sys::rdtsc();
            let reply = abi::iface::Transport::call(&self.0, msg);
            CALL_CYCLES.fetch_add(sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
            if matches!(reply, Err(Error::PeerDead)) {
                DIED.store(true, Ordering::Relaxed);
            }
            reply
        }
    }
}

/// Labels [`Tally`] counts one by one (the interface's are below it).
const TALLIED_LABELS: usize = 32;

/// A transport with every call counted by its operation label, and the
/// bytes the client copied into its gather buffer: deterministic figures
/// of the stack's calls and copies (issue #13), on the host as in the
/// system.
#[derive(Debug)]
pub struct Tally<T> {
    pub inner: T,
    calls: [Cell<u64>; TALLIED_LABELS],
    gathered: Cell<u64>,
}

impl<T> Tally<T> {
    fn new(inner: T) -> Self {
        Tally {
            inner,
            calls: Default::default(),
            gathered: Cell::new(0),
        }
    }
}

impl<T: Transport> Transport for Tally<T> {
    fn call(&self, msg: &abi::Message) -> Result<abi::Message, abi::Error> {
        let i = usize::try_from(msg.label)
            .unwrap_or(0)
            .min(TALLIED_LABELS - 1);
        self.calls[i].set(self.calls[i].get() + 1);
        self.inner.call(msg)
    }
}

/// What a [`BlockClient`] did so far: calls by operation, and bytes copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCounters {
    pub read: u64,
    /// Journaled write calls (`write` and `write_scattered`).
    pub write: u64,
    pub write_fresh: u64,
    pub allocate: u64,
    pub free: u64,
    /// Every other operation (begin, commit, `commit_scattered`, delegate,
    /// bits, reports...).
    pub other: u64,
    /// `write_fresh` bytes copied into the gather buffer.
    pub gathered_bytes: u64,
}

impl ClientCounters {
    /// All calls.
    pub fn calls(&self) -> u64 {
        self.read + self.write + self.write_fresh + self.allocate + self.free + self.other
    }
}

/// The calls by operation, as the services' `stats` print them after
/// "<who> calls to block: ".
impl core::fmt::Display for ClientCounters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "read={} write={} write_fresh={} allocate={} free={} other={}",
            self.read, self.write, self.write_fresh, self.allocate, self.free, self.other
        )
    }
}

/// A failed call as the block error the layers above understand. The
/// store's error is itself; a transaction the caller no longer holds (ended,
/// aborted at a delegate's death, someone else's) is `NoTransaction`; the
/// service's death is `DeviceError::ServiceDied`; another kernel error (a
/// bad capability) is a device failure with code `-(1000 + kernel error)`, a refusal `-(2000 + its number)`, a
/// bad buffer or report number `-(3000 + the error's code)`.
pub fn block_error(e: CallError<BlockError>) -> Error {
    let io = |code: i64| {
        Error::Device(DeviceError::Io {
            first: 0,
            code: i32::try_from(code).unwrap_or(i32::MIN),
        })
    };
    match e {
        CallError::Service(BlockError::Store { fault }) => fault.0,
        CallError::Service(
            BlockError::NotOwner { .. }
            | BlockError::StaleTransaction { .. }
            | BlockError::Aborted { .. },
        ) => Error::NoTransaction,
        CallError::Service(e @ (BlockError::LeaseCopy { .. } | BlockError::NoReport { .. })) => {
            io(-(3000 + abi::iface::ServiceError::code(&e) as i64))
        }
        CallError::Refused(r) => {
            let n = r.to_message().label - abi::iface::REFUSED_BASE;
            io(-(2000 + n as i64))
        }
        CallError::Kernel(abi::Error::PeerDead) => Error::Device(DeviceError::ServiceDied),
        CallError::Kernel(k) => io(-(1000 + k as i64)),
    }
}

/// A connection to the block service.
pub struct BlockClient<T = DefaultTransport> {
    stub: stub::Client<Tally<T>>,
    geometry: Geometry,
    bits_first: u64,
    bits_len: u64,
    bits: Box<[u8; BITS_BYTES]>,
    /// Gathered `write_fresh` data for blocks `fresh_first..`.
    fresh: Vec<u8>,
    fresh_first: u64,
    /// Gathered journaled writes: block images, and the block each is for
    /// (at most `MAX_SCATTER`, each block once; found by a linear search,
    /// which over 64 numbers costs less than a map's upkeep), with its
    /// `SCATTER_` flags as `write_scattered` sends it.
    journal: Vec<u8>,
    journal_at: Vec<u64>,
    /// Badge to which each transaction is delegated right after `begin`.
    delegate: Option<u64>,
    /// The transaction this client's calls are for (0: not known yet).
    tx: u64,
    /// This client began `tx` (else it is a delegate in it, or none).
    holds: bool,
    /// Data blocks free as this client's last commit answered them; `None`
    /// from its next `begin` on (its transaction, and its delegate's
    /// allocations, change the count), after an abort or a failed commit.
    free_known: Option<u64>,
    /// Commit with `commit_armed`, so that the next
    /// `begin` makes no call (`set_armed_begin`).
    arm: bool,
    /// The service armed this client's next transaction (its last commit
    /// was `commit_armed` and answered): `begin` then makes no call.
    armed: bool,
}

#[cfg(target_os = "none")]
impl BlockClient<Counted> {
    /// Connects through endpoint capability `slot`: asks the service for
    /// the store's geometry.
    pub fn connect(slot: u64) -> Result<Self, Error> {
        BlockClient::connect_over(Counted(userlib::ipc::Endpoint(slot)))
    }
}

fn check_len(len: usize) -> Result<(), Error> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(Error::BadLength { len });
    }
    Ok(())
}

impl<T: Transport> BlockClient<T> {
    /// Connects over `transport`: asks the service for the geometry.
    pub fn connect_over(transport: T) -> Result<Self, Error> {
        let stub = stub::Client::new(Tally::new(transport));
        let geometry = stub.info().map_err(block_error)?;
        Ok(BlockClient {
            stub,
            geometry,
            bits_first: 0,
            bits_len: 0,
            bits: Box::new([0u8; BITS_BYTES]),
            fresh: Vec::new(),
            fresh_first: 0,
            journal: Vec::new(),
            journal_at: Vec::new(),
            delegate: None,
            tx: 0,
            holds: false,
            free_known: None,
            arm: false,
            armed: false,
        })
    }

    /// The stubs, for calls the trait does not cover.
    pub fn stub(&self) -> &stub::Client<Tally<T>> {
        &self.stub
    }

    /// The calls this client made and the bytes it copied, so far.
    pub fn counters(&self) -> ClientCounters {
        let t = &self.stub.transport;
        let n = |label: u64| t.calls[label as usize].get();
        let all: u64 = t.calls.iter().map(Cell::get).sum();
        let mut c = ClientCounters {
            read: n(stub::label::read),
            write: n(stub::label::write) + n(stub::label::write_scattered),
            write_fresh: n(stub::label::write_fresh),
            allocate: n(stub::label::allocate),
            free: n(stub::label::free),
            other: 0,
            gathered_bytes: t.gathered.get(),
        };
        c.other = all - c.calls();
        c
    }

    /// The calls of operation `label` (`block_store::label::...`) so far.
    pub fn calls_of(&self, label: u64) -> u64 {
        self.stub
            .transport
            .calls
            .get(label as usize)
            .map_or(0, Cell::get)
    }

    /// First block after the block layer's own regions and the root slots.
    pub fn data_start(&self) -> u64 {
        self.geometry.data_start
    }

    /// The transaction this client's calls are for (0: none known).
    pub fn transaction(&self) -> u64 {
        self.tx
    }

    /// Sends the gathered unjournaled writes now and ends the delegate's
    /// request: its next call learns the transaction again. A delegate (the
    /// content service) calls it before it answers its caller, who may
    /// commit next.
    pub fn send_gathered(&mut self) -> Result<(), Error> {
        self.fold_fresh();
        let sent = self.send_fresh().and(self.send_journal());
        self.end_request();
        sent
    }

    /// Drops the gathered unjournaled writes: a delegate whose request
    /// failed (its caller aborts the transaction they belong to).
    pub fn drop_gathered(&mut self) {
        self.fresh.clear();
        self.clear_journal();
        self.end_request();
    }

    /// Hands the request's gathered writes over instead of sending them:
    /// a delegate whose caller (the holder) sends them with its own, in
    /// its commit (`content_api`'s `store_whole_forward`, issue #13: the
    /// content service's `write_scattered` of a small put rides on the
    /// fs's `commit_scattered`). The unjournaled data is folded first as
    /// for a send ([`JOURNALED_FRESH_BLOCKS`]); answers the images and
    /// their block numbers with their `SCATTER_` flags, as
    /// `write_scattered` would carry them, or `None` when unjournaled data
    /// is left that does not fold or there are more than `max_images`
    /// (nothing is handed over: [`Self::send_gathered`] sends it all).
    /// The caller copies them out, then ends the request with
    /// [`Self::drop_gathered`]. They were gathered in the transaction this
    /// client is delegated, and only its holder can send them: into that
    /// transaction, with its commit (the holder's other writes in it
    /// touch none of these blocks; see [`write_handed_over`]).
    pub fn handover(&mut self, max_images: usize) -> Option<(&[u8], &[u64])> {
        self.fold_fresh();
        if !self.fresh.is_empty() || self.journal_at.len() > max_images {
            return None;
        }
        Some((&self.journal, &self.journal_at))
    }

    fn end_request(&mut self) {
        if !self.holds {
            self.tx = 0;
        }
    }

    /// Takes note of the transaction a call went into.
    fn went_into(&mut self, tx: u64) {
        if self.tx == 0 {
            self.tx = tx;
        }
    }

    /// Sends the gathered unjournaled writes, if any.
    fn send_fresh(&mut self) -> Result<(), Error> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let sent = self
            .stub
            .write_fresh(self.tx, self.fresh_first, &self.fresh);
        self.fresh.clear();
        self.went_into(sent.map_err(block_error)?);
        Ok(())
    }

    /// Moves the gathered unjournaled writes into the journaled gather when
    /// both fit one call, just before they are sent: the content service's
    /// chunk and index writes of a small put go in one call instead of two.
    /// At most [`JOURNALED_FRESH_BLOCKS`] blocks go as journaled writes
    /// (stronger than ordered data, and a commit without fresh data needs
    /// one flush instead of two: `fs_flushes_per_small_put`); more as
    /// unjournaled ones (marked [`SCATTER_FRESH`]). The two gathers never
    /// hold the same block (a write of one sends the other first).
    fn fold_fresh(&mut self) {
        let blocks = self.fresh.len() / BLOCK_SIZE;
        if blocks == 0 || self.journal_at.len() + blocks > MAX_SCATTER {
            return;
        }
        let mark = if blocks <= JOURNALED_FRESH_BLOCKS {
            0
        } else {
            SCATTER_FRESH
        };
        self.journal_at
            .extend((0..blocks as u64).map(|i| (self.fresh_first + i) | mark));
        self.journal.extend_from_slice(&self.fresh);
        self.fresh.clear();
    }

    /// Sends the gathered journaled writes, if any, in one call.
    fn send_journal(&mut self) -> Result<(), Error> {
        if self.journal_at.is_empty() {
            return Ok(());
        }
        let at = block_numbers(&self.journal_at);
        let sent = self.stub.write_scattered(self.tx, &self.journal, &at);
        self.clear_journal();
        self.went_into(sent.map_err(block_error)?);
        Ok(())
    }

    fn clear_journal(&mut self) {
        self.journal.clear();
        self.journal_at.clear();
    }

    /// Where block `block`'s gathered journaled image is, if it has one.
    fn gathered_at(&self, block: u64) -> Option<usize> {
        self.journal_at
            .iter()
            .position(|&b| b & !SCATTER_FLAGS == block)
    }

    /// Whether any of `blocks` blocks from `first` has a gathered image.
    fn journal_touches(&self, first: u64, blocks: u64) -> bool {
        let end = first.saturating_add(blocks);
        self.journal_at
            .iter()
            .map(|&b| b & !SCATTER_FLAGS)
            .any(|b| first <= b && b < end)
    }

    /// Gathers the journaled write of one block's `image`, `sealed` for it
    /// by its writer (`write_verified`) or not.
    fn gather_block(&mut self, block: u64, image: &[u8], sealed: bool) -> Result<(), Error> {
        let number = if sealed {
            block | SCATTER_SEALED
        } else {
            block
        };
        if let Some(i) = self.gathered_at(block) {
            self.journal[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE].copy_from_slice(image);
            self.journal_at[i] = number;
            return Ok(());
        }
        if self.journal_at.len() == MAX_SCATTER {
            self.send_journal()?;
        }
        self.journal_at.push(number);
        self.journal.extend_from_slice(image);
        Ok(())
    }

    /// What every call but `write_fresh`, `allocate` and `allocation_bits`
    /// does first (a read, write or free first does [`Self::before_touching`]).
    fn before(&mut self) -> Result<(), Error> {
        self.bits_len = 0;
        self.fold_fresh();
        self.send_fresh()?;
        self.send_journal()
    }

    /// What a read, write or free of `blocks` blocks from `first` does
    /// first: the gathered writes are sent when they cover any of them (the
    /// read sees them, the later write lands last, a freed block is not
    /// written after its free).
    fn before_touching(&mut self, first: u64, blocks: u64) -> Result<(), Error> {
        self.bits_len = 0;
        let gathered = (self.fresh.len() / BLOCK_SIZE) as u64;
        let end = first.saturating_add(blocks);
        if gathered > 0 && first < self.fresh_first + gathered && self.fresh_first < end {
            self.send_fresh()?;
        }
        Ok(())
    }

    /// Text report `what` (see `crate::report`) into `out` (at most
    /// `REPORT_MAX` bytes of it are used); returns the bytes written.
    pub fn report(&mut self, what: u64, out: &mut [u8]) -> Result<usize, Error> {
        self.before()?;
        let n = out.len().min(REPORT_MAX);
        let r = self.stub.report(what, &mut out[..n]).map_err(block_error)?;
        Ok(usize::try_from(r.written).unwrap_or(0).min(n))
    }

    /// Delegates every transaction this client begins from now on to the
    /// client with `badge` (see [`BlockClient::delegate`]).
    pub fn set_delegate(&mut self, badge: Option<u64>) {
        self.delegate = badge;
    }

    /// Commits arm the next transaction (`commit_armed`, delegated to the
    /// badge [`Self::set_delegate`] names, if any):
    /// a `begin` after such a commit makes no call, the transaction opens
    /// at the first call of this client or its delegate that goes into
    /// it, and this client names it 0 until an answer tells its number
    /// (the service's `writable`: 0 is "the one I hold"). Only for a
    /// client that is the store's one holder of transactions (the fs
    /// service): an armed open never waits for another client's
    /// transaction, it is refused.
    pub fn set_armed_begin(&mut self, on: bool) {
        self.arm = on;
        self.armed &= on;
    }

    /// Lets the client with `badge` write, allocate and free in this
    /// client's open transaction until it ends (see the crate doc).
    pub fn delegate(&mut self, badge: u64) -> Result<(), Error> {
        self.before()?;
        self.stub.delegate(self.tx, badge).map_err(block_error)
    }

    /// Makes everything durable and empties the journal (before poweroff).
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.before()?;
        self.stub.checkpoint().map_err(block_error)
    }

    /// The transaction is over for this client (committed, aborted, gone).
    fn ended(&mut self) {
        self.tx = 0;
        self.holds = false;
    }
}

/// Writes images a delegate handed over ([`BlockClient::handover`]) into
/// `dev`'s open transaction, each as the delegate would have sent it: a
/// number marked [`SCATTER_FRESH`] as `write_fresh`, one marked
/// [`SCATTER_SEALED`] as `write_verified`, others as `write`. `numbers`
/// holds one little-endian u64 per 4 KiB image of `images`, as
/// `write_scattered`'s leases do. Over a [`BlockClient`] they are gathered
/// and ride on its commit.
pub fn write_handed_over<T: block::Transactional>(
    dev: &mut T,
    images: &[u8],
    numbers: &[u8],
) -> Result<(), Error> {
    if images.len() != numbers.len() / 8 * BLOCK_SIZE || !numbers.len().is_multiple_of(8) {
        return Err(Error::BadLength { len: numbers.len() });
    }
    for (image, number) in images.chunks(BLOCK_SIZE).zip(numbers.chunks(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(number);
        let n = u64::from_le_bytes(w);
        let block = n & !SCATTER_FLAGS;
        if n & SCATTER_FRESH != 0 {
            dev.write_fresh(block, image)?;
        } else if n & SCATTER_SEALED != 0 {
            dev.write_verified(block, image)?;
        } else {
            dev.write(block, image)?;
        }
    }
    Ok(())
}

/// Block numbers as `write_scattered`'s lease 1 carries them: one
/// little-endian u64 each.
fn block_numbers(blocks: &[u64]) -> Vec<u8> {
    blocks.iter().flat_map(|b| b.to_le_bytes()).collect()
}
