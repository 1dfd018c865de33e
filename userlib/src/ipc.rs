//! Typed IPC on top of the raw calls.
//!
//! Declared interfaces (`abi::interface!`): `Endpoint` is the client stubs'
//! `Transport` (`Client::new(endpoint)`), and `ReplyToken` is the dispatch's
//! `Caller` (`dispatch(&mut server, badge, token, &msg).send()`).
//!
//! Older hand-written clients: `Endpoint(slot).call(&request, &leases)`
//! sends a request declared with `abi::protocol!` and returns the reply
//! words, or the kernel's error, or the service's error code (a non-zero
//! reply label).
//!
//! Server: `recv(mask)` yields [`Incoming`]; a call carries a [`ReplyToken`]
//! that is consumed by `reply`, so each call is answered at most once. Tokens
//! may be kept and answered later, in any order (deferred replies).

use crate::sys;
use abi::proto::{DecodeError, Wire};
use abi::{recv_kind, Error, Lease, Message, MAX_LEASES, MSG_WORDS, NO_CAP};

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The kernel refused or the server died (`Error::PeerDead`).
    Kernel(Error),
    /// The service answered with this non-zero status.
    Service(u64),
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Kernel(e)
    }
}

/// Leases of a buffer for one call (defined once, in `abi::iface`).
pub use abi::iface::{lend, lend_mut};

/// An endpoint capability (a slot in this process's capability table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint(pub u64);

/// A successful reply.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub words: [u64; MSG_WORDS],
    /// Capability slot received with the reply, or `NO_CAP`.
    pub cap: u64,
}

impl Endpoint {
    /// Sends `request` with up to `MAX_LEASES` leases and waits for the reply.
    pub fn call<R: Wire>(&self, request: &R, leases: &[Lease]) -> Result<Reply, CallError> {
        let mut msg = request.to_message();
        self.call_message(&mut msg, leases)
    }

    pub fn call_message(&self, msg: &mut Message, leases: &[Lease]) -> Result<Reply, CallError> {
        if leases.len() > MAX_LEASES {
            return Err(CallError::Kernel(Error::BadLease));
        }
        msg.leases[..leases.len()].copy_from_slice(leases);
        let mut reply = Message::default();
        sys::call(self.0, msg, &mut reply)?;
        if reply.label != 0 {
            return Err(CallError::Service(reply.label));
        }
        Ok(Reply {
            words: reply.words,
            cap: reply.cap,
        })
    }
}

/// The client transport of declared interfaces (`abi::interface!`): a
/// stub's call is one `CALL` syscall.
impl abi::iface::Transport for Endpoint {
    fn call(&self, msg: &Message) -> Result<Message, Error> {
        let mut reply = Message::default();
        sys::call(self.0, msg, &mut reply)?;
        Ok(reply)
    }
}

/// The right to answer one call. Not `Clone`: `reply` consumes it.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyToken(u64);

impl ReplyToken {
    pub fn raw(&self) -> u64 {
        self.0
    }

    /// Reads lease `index` of the caller from `offset` into `buf`; returns
    /// the bytes read (fewer at the lease's end).
    pub fn lease_read(&self, index: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        sys::lease_read(self.0, index, offset, buf)
    }

    pub fn lease_write(&self, index: u64, offset: u64, data: &[u8]) -> Result<usize, Error> {
        sys::lease_write(self.0, index, offset, data)
    }

    /// Answers with status 0 and `words`.
    pub fn reply_ok(self, words: &[u64]) -> Result<(), Error> {
        sys::reply(self.0, &Message::new(0, words))
    }

    /// Answers with a non-zero service error `status`.
    pub fn reply_err(self, status: u64) -> Result<(), Error> {
        sys::reply(self.0, &Message::new(status.max(1), &[]))
    }

    /// Answers with a full message (e.g. to pass a capability).
    pub fn reply_message(self, msg: &Message) -> Result<(), Error> {
        sys::reply(self.0, msg)
    }

    /// Answers with `msg` and goes on computing (not receiving) after it:
    /// with a second CPU halted, the kernel wakes it for the caller at
    /// once (`abi::reply_flags::CONTINUES`) instead of at its next tick.
    pub fn reply_and_continue(self, msg: &Message) -> Result<(), Error> {
        sys::reply_flagged(self.0, msg, abi::reply_flags::CONTINUES)
    }
}

/// The server side of declared interfaces: the generated dispatch reads
/// and writes leases through the kernel's checked copy, and answers once.
impl abi::iface::Caller for ReplyToken {
    fn lease_read(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        sys::lease_read(self.0, index as u64, offset, buf)
    }

    fn lease_write(&self, index: usize, offset: u64, data: &[u8]) -> Result<usize, Error> {
        sys::lease_write(self.0, index as u64, offset, data)
    }

    fn reply(self, msg: &Message) -> Result<(), Error> {
        sys::reply(self.0, msg)
    }
}

/// What `recv` returned.
pub enum Incoming {
    Call {
        /// The badge of the capability the caller used.
        badge: u64,
        token: ReplyToken,
        msg: Message,
    },
    Notification(u64),
}

impl Incoming {
    /// Decodes a call's message as protocol `R`.
    pub fn decode<R: Wire>(msg: &Message) -> Result<R, DecodeError> {
        R::decode(msg)
    }
}

fn incoming(kind: u64, value: u64, token: u64, msg: Message) -> Incoming {
    if kind == recv_kind::NOTIFICATION {
        Incoming::Notification(value)
    } else {
        Incoming::Call {
            badge: value,
            token: ReplyToken(token),
            msg,
        }
    }
}

/// Waits for a call, or for notification bits in `mask`.
pub fn recv(mask: u64) -> Result<Incoming, Error> {
    let mut msg = Message::default();
    let (kind, value, token) = sys::recv(&mut msg, mask, 0)?;
    Ok(incoming(kind, value, token, msg))
}

/// Waits for notification bits in `mask` only; calls stay queued for a
/// later `recv`. Returns the bits (cleared from the pending set).
pub fn wait_notification(mask: u64) -> Result<u64, Error> {
    let mut msg = Message::default();
    let (_, bits, _) = sys::recv(&mut msg, mask, abi::recv_flags::NOTIFICATIONS_ONLY)?;
    Ok(bits)
}

/// Like `recv` but returns `Error::WouldBlock` instead of waiting.
pub fn try_recv(mask: u64) -> Result<Incoming, Error> {
    let mut msg = Message::default();
    let (kind, value, token) = sys::recv(&mut msg, mask, abi::recv_flags::NONBLOCKING)?;
    Ok(incoming(kind, value, token, msg))
}

/// Replies to `token` (status 0, `words`) and waits for the next call in one
/// syscall (the fast path of a server loop).
pub fn reply_recv(token: ReplyToken, words: &[u64], mask: u64) -> Result<Incoming, Error> {
    let mut msg = Message::default();
    let (kind, value, tok) = sys::reply_recv(token.0, &Message::new(0, words), &mut msg, mask)?;
    Ok(incoming(kind, value, tok, msg))
}

/// Mints an endpoint capability to this process with `badge`, e.g. to hand
/// to a client as a session.
pub fn mint_endpoint(badge: u64) -> Result<Endpoint, Error> {
    sys::cap_mint(abi::mint_kind::ENDPOINT, badge).map(Endpoint)
}

/// `NO_CAP`, re-exported for callers building messages by hand.
pub const NO_CAPABILITY: u64 = NO_CAP;
