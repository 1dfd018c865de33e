//! The block service's IPC loop around a `BlockStore`.
//!
//! # Invariants
//! - `owner` is the badge of the client whose transaction is open in the
//!   store, and `store` has a transaction open exactly when it is `Some`.
//! - `delegate` is `None` whenever `owner` is; when `Some`, that client may
//!   write, allocate and free in the owner's transaction (never end it).
//! - `waiting` holds the `Begin` calls of other clients, oldest first; each
//!   is answered when the transaction before it ends (commit or abort).
//! - Block data moves through `piece`, at most `MAX_PIECE_BLOCKS` blocks:
//!   the service's memory does not depend on request sizes.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use block::{
    BlockDevice, BlockStore, DeviceError, Durability, Error, Extent, IoRequest, Transactional,
    BLOCK_SIZE,
};
use block_api::{code, encode_error, report, BlockRequest, MAX_PIECE_BLOCKS};
use core::sync::atomic::{AtomicU64, Ordering};
use userlib::abi::Message;
use userlib::ipc::{recv, Incoming, ReplyToken};
use userlib::println;

/// How a request failed: a store error or a protocol error.
enum Failure {
    Store(Error),
    Protocol(u64, u64),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Store(e)
    }
}

type Outcome = Result<[u64; 4], Failure>;

/// TSC cycles spent handling requests, and inside the disk driver's calls.
static HANDLE_CYCLES: AtomicU64 = AtomicU64::new(0);
static DEVICE_CYCLES: AtomicU64 = AtomicU64::new(0);

/// The disk with the cycles spent in its calls counted (for `stats`).
pub struct Timed<D>(pub D);

impl<D: BlockDevice> Timed<D> {
    fn timed<R>(&mut self, f: impl FnOnce(&mut D) -> R) -> R {
        let t0 = userlib::sys::rdtsc();
        let r = f(&mut self.0);
        DEVICE_CYCLES.fetch_add(userlib::sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        r
    }
}

impl<D: BlockDevice> BlockDevice for Timed<D> {
    fn block_count(&self) -> u64 {
        self.0.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.timed(|d| d.read(first, buf))
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.timed(|d| d.write(first, data))
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.timed(|d| d.flush())
    }
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        self.timed(|d| d.submit(batch))
    }
}

pub struct Service<D: BlockDevice> {
    store: BlockStore<D>,
    owner: Option<u64>,
    delegate: Option<u64>,
    waiting: VecDeque<(u64, ReplyToken)>,
    piece: Vec<u8>,
    /// Begin calls that had to wait (for `stats`).
    deferred_begins: u64,
}

fn reply(token: ReplyToken, outcome: Outcome) {
    let msg = match outcome {
        Ok(words) => Message::new(0, &words),
        Err(Failure::Store(e)) => {
            let (label, words) = encode_error(&e);
            Message::new(label, &words)
        }
        Err(Failure::Protocol(label, detail)) => Message::new(label, &[detail]),
    };
    // A caller that died meanwhile is not our problem (rule 6).
    let _ = token.reply_message(&msg);
}

/// The lease 0 length of a request, checked to be whole blocks.
fn lease_blocks(msg: &Message) -> Result<u64, Failure> {
    let len = msg.leases[0].len;
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(Failure::Store(Error::BadLength {
            len: usize::try_from(len).unwrap_or(usize::MAX),
        }));
    }
    Ok(len / BLOCK_SIZE as u64)
}

fn lease_failure(e: userlib::Error) -> Failure {
    Failure::Protocol(code::BAD_LEASE, e as u64)
}

impl<D: BlockDevice> Service<D> {
    pub fn new(store: BlockStore<D>) -> Self {
        Service {
            store,
            owner: None,
            delegate: None,
            waiting: VecDeque::new(),
            piece: vec![0u8; MAX_PIECE_BLOCKS * BLOCK_SIZE],
            deferred_begins: 0,
        }
    }

    pub fn run(mut self) -> ! {
        loop {
            let Ok(Incoming::Call { badge, token, msg }) = recv(0) else {
                continue;
            };
            let t0 = userlib::sys::rdtsc();
            self.dispatch(badge, token, &msg);
            HANDLE_CYCLES.fetch_add(userlib::sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        }
    }

    fn dispatch(&mut self, badge: u64, token: ReplyToken, msg: &Message) {
        let Some(request) = BlockRequest::decode_message(msg) else {
            reply(token, Err(Failure::Protocol(code::BAD_REQUEST, msg.label)));
            return;
        };
        match request {
            BlockRequest::Begin {} => self.begin(badge, token),
            BlockRequest::Commit { durable } => {
                let outcome = self.commit(badge, durable);
                reply(token, outcome);
                self.start_next();
            }
            BlockRequest::Abort {} => {
                let outcome = self.owned(badge).map(|()| {
                    self.store.abort();
                    self.owner = None;
                    self.delegate = None;
                    [0; 4]
                });
                reply(token, outcome);
                self.start_next();
            }
            other => {
                let outcome = self.handle(badge, other, msg, &token);
                reply(token, outcome);
            }
        }
    }

    /// `Ok` when `badge` holds the open transaction or is its delegate.
    fn may_write(&self, badge: u64) -> Result<(), Failure> {
        if self.owner.is_some() && self.delegate == Some(badge) {
            return Ok(());
        }
        self.owned(badge)
    }

    /// `Ok` when `badge` holds the open transaction.
    fn owned(&self, badge: u64) -> Result<(), Failure> {
        match self.owner {
            Some(b) if b == badge => Ok(()),
            Some(b) => Err(Failure::Protocol(code::NOT_OWNER, b)),
            None => Err(Failure::Store(Error::NoTransaction)),
        }
    }

    fn begin(&mut self, badge: u64, token: ReplyToken) {
        match self.owner {
            None => {
                let outcome = self.store.begin().map(|()| {
                    self.owner = Some(badge);
                    [0; 4]
                });
                reply(token, outcome.map_err(Failure::Store));
            }
            Some(b) if b == badge => reply(token, Err(Failure::Store(Error::TransactionOpen))),
            Some(_) => {
                // Deferred: answered when the current transaction ends.
                self.deferred_begins += 1;
                self.waiting.push_back((badge, token));
            }
        }
    }

    fn commit(&mut self, badge: u64, durable: bool) -> Outcome {
        self.owned(badge)?;
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
        self.owner = None;
        self.delegate = None;
        result?;
        Ok([0; 4])
    }

    /// Opens the transaction of the oldest waiting `Begin`, if any.
    fn start_next(&mut self) {
        while self.owner.is_none() {
            let Some((badge, token)) = self.waiting.pop_front() else {
                return;
            };
            match self.store.begin() {
                Ok(()) => {
                    self.owner = Some(badge);
                    reply(token, Ok([0; 4]));
                }
                Err(e) => reply(token, Err(Failure::Store(e))),
            }
        }
    }

    fn handle(
        &mut self,
        badge: u64,
        request: BlockRequest,
        msg: &Message,
        token: &ReplyToken,
    ) -> Outcome {
        match request {
            BlockRequest::Info {} => {
                let g = self.store.geometry();
                Ok([g.block_count, g.roots.start, g.roots.len, g.data_start])
            }
            BlockRequest::Read { first } => {
                let blocks = lease_blocks(msg)?;
                let mut done = 0u64;
                while done < blocks {
                    let n = (blocks - done).min(MAX_PIECE_BLOCKS as u64);
                    let bytes = n as usize * BLOCK_SIZE;
                    let at = first.checked_add(done).ok_or(Error::OutOfRange {
                        first,
                        blocks,
                        block_count: self.store.block_count(),
                    })?;
                    self.store.read(at, &mut self.piece[..bytes])?;
                    token
                        .lease_write(0, done * BLOCK_SIZE as u64, &self.piece[..bytes])
                        .map_err(lease_failure)?;
                    done += n;
                }
                Ok([blocks, 0, 0, 0])
            }
            BlockRequest::Write { first } | BlockRequest::WriteFresh { first } => {
                self.may_write(badge)?;
                let fresh = matches!(request, BlockRequest::WriteFresh { .. });
                let blocks = lease_blocks(msg)?;
                let mut done = 0u64;
                while done < blocks {
                    let n = (blocks - done).min(MAX_PIECE_BLOCKS as u64);
                    let bytes = n as usize * BLOCK_SIZE;
                    let got = token
                        .lease_read(0, done * BLOCK_SIZE as u64, &mut self.piece[..bytes])
                        .map_err(lease_failure)?;
                    if got != bytes {
                        return Err(Failure::Protocol(code::BAD_LEASE, got as u64));
                    }
                    let at = first.checked_add(done).ok_or(Error::OutOfRange {
                        first,
                        blocks,
                        block_count: self.store.block_count(),
                    })?;
                    if fresh {
                        self.store.write_fresh(at, &self.piece[..bytes])?;
                    } else {
                        self.store.write(at, &self.piece[..bytes])?;
                    }
                    done += n;
                }
                Ok([blocks, 0, 0, 0])
            }
            BlockRequest::Allocate { count } => {
                self.may_write(badge)?;
                let e = self.store.allocate(count)?;
                Ok([e.start, e.len, 0, 0])
            }
            BlockRequest::Delegate { badge: to } => {
                self.owned(badge)?;
                self.delegate = Some(to);
                Ok([0; 4])
            }
            BlockRequest::Free { start, len } => {
                self.may_write(badge)?;
                self.store.free(Extent::new(start, len))?;
                Ok([0; 4])
            }
            BlockRequest::AllocationBits { first } => {
                let count = self.store.block_count();
                if first >= count {
                    return Err(Failure::Store(Error::OutOfRange {
                        first,
                        blocks: 1,
                        block_count: count,
                    }));
                }
                let lease_bytes = msg.leases[0].len.min(self.piece.len() as u64);
                let bits = (lease_bytes * 8).min(count - first);
                let bytes = bits.div_ceil(8) as usize;
                self.piece[..bytes].fill(0);
                for i in 0..bits {
                    if self.store.is_allocated(first + i)? {
                        self.piece[(i / 8) as usize] |= 1 << (i % 8);
                    }
                }
                token
                    .lease_write(0, 0, &self.piece[..bytes])
                    .map_err(lease_failure)?;
                Ok([bits, 0, 0, 0])
            }
            BlockRequest::Sync {} => {
                self.store.sync()?;
                Ok([0; 4])
            }
            BlockRequest::Checkpoint {} => {
                if self.owner.is_some() {
                    return Err(Failure::Store(Error::TransactionOpen));
                }
                self.store.checkpoint()?;
                println!("block: checkpoint done, journal empty");
                Ok([0; 4])
            }
            BlockRequest::Report { what } => {
                let text = self.report(what)?;
                let cap = usize::try_from(msg.leases[0].len).unwrap_or(usize::MAX);
                let n = text.len().min(cap);
                if n > 0 {
                    token
                        .lease_write(0, 0, &text.as_bytes()[..n])
                        .map_err(lease_failure)?;
                }
                Ok([n as u64, text.len() as u64, 0, 0])
            }
            // Begin, Commit and Abort are handled by `run`.
            BlockRequest::Begin {} | BlockRequest::Commit { .. } | BlockRequest::Abort {} => {
                Err(Failure::Protocol(code::BAD_REQUEST, msg.label))
            }
        }
    }

    fn report(&mut self, what: u64) -> Result<String, Failure> {
        let mut text = String::new();
        match what {
            report::STATS => {
                let _ = write!(text, "{}", self.store.stats());
                let _ = writeln!(
                    text,
                    "service: transaction {}, {} begin calls waited, {} waiting now; {} Mcycles handling requests, {} of them in the disk driver",
                    if self.owner.is_some() { "open" } else { "closed" },
                    self.deferred_begins,
                    self.waiting.len(),
                    HANDLE_CYCLES.load(Ordering::Relaxed) / 1_000_000,
                    DEVICE_CYCLES.load(Ordering::Relaxed) / 1_000_000
                );
            }
            report::EVENTS => {
                for e in self.store.events() {
                    let _ = writeln!(text, "{e}");
                }
            }
            report::FSCK => {
                if self.owner.is_some() {
                    return Err(Failure::Store(Error::TransactionOpen));
                }
                let r = self.store.check()?;
                let _ = write!(text, "{r}");
                if r.is_clean() {
                    text = format!("block layer clean\n{text}");
                }
            }
            other => return Err(Failure::Protocol(code::BAD_REQUEST, other)),
        }
        Ok(text)
    }
}

/// Decoding helper: `None` for a message that is no `BlockRequest`.
trait DecodeMessage: Sized {
    fn decode_message(msg: &Message) -> Option<Self>;
}

impl DecodeMessage for BlockRequest {
    fn decode_message(msg: &Message) -> Option<Self> {
        Incoming::decode::<BlockRequest>(msg).ok()
    }
}

/// Serves a store that could not be opened: every request gets `error`,
/// so clients report it instead of hanging.
pub fn serve_failure(error: Error) -> ! {
    loop {
        if let Ok(Incoming::Call { token, .. }) = recv(0) {
            reply(token, Err(Failure::Store(error.clone())));
        }
    }
}
