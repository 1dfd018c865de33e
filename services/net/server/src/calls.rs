//! Client calls: each is tried at once; one that cannot progress keeps its
//! reply token in `Calls::waiting` and is retried after every poll of the
//! stack (a deferred reply).
//!
//! # Invariants
//! - At most one waiting call per (client, handle, kind), and one `Poll`
//!   per client: a second one is answered `BUSY`.
//! - A waiting call is answered exactly once: when it progresses, fails, its
//!   handle is closed (`CLOSED`), or the network goes down (`NET_DOWN`).

use alloc::vec::Vec;
use net_api::{flags, status, Request, POLL_MAX};
use netstack::{Handle, SockError, Stack};
use userlib::abi::proto::Wire;
use userlib::abi::{Error, Message};
use userlib::ipc::ReplyToken;
use userlib::println;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Accept,
    Read,
    Write,
    Poll,
}

struct Waiting {
    kind: Kind,
    badge: u64,
    handle: Handle,
    token: ReplyToken,
    lease_len: usize,
}

pub struct Calls {
    /// The driver's counters, fetched by the main loop when asked for.
    pub driver_stats: Option<[u64; 6]>,
    /// The `Stats` reply, kept up to date by the main loop.
    pub stats: [u64; 6],
    waiting: Vec<Waiting>,
    /// (client, connection) pairs whose `NONBLOCK` write would have waited:
    /// `Poll` reports them when they have room again.
    want_write: Vec<(u64, Handle)>,
}

fn status_of(e: SockError) -> u64 {
    match e {
        SockError::BadHandle => status::BAD_HANDLE,
        SockError::BadPort => status::BAD_PORT,
        SockError::PortInUse => status::PORT_IN_USE,
        SockError::TooMany => status::TOO_MANY,
        SockError::Reset => status::RESET,
        SockError::Closed => status::CLOSED,
    }
}

/// What trying a call gave: reply words, an error status, or "wait".
enum Outcome {
    Done([u64; 6]),
    Failed(u64),
    Wait,
}

impl Calls {
    pub fn new() -> Calls {
        Calls {
            driver_stats: None,
            stats: [0; 6],
            waiting: Vec::new(),
            want_write: Vec::new(),
        }
    }

    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Answers `token`; a client that died has its handles closed.
    fn answer(&mut self, stack: &mut Stack, badge: u64, token: ReplyToken, outcome: Outcome) {
        let r = match outcome {
            Outcome::Done(w) => token.reply_ok(&w),
            Outcome::Failed(s) => token.reply_err(s),
            Outcome::Wait => return,
        };
        if r == Err(Error::PeerDead) {
            let n = stack.close_all(badge);
            self.waiting.retain(|w| w.badge != badge);
            println!("net: client {badge} died; closed its {n} handle(s)");
        }
    }

    fn attempt(&mut self, stack: &mut Stack, down: bool, w: &Waiting) -> Outcome {
        if down {
            return Outcome::Failed(status::NET_DOWN);
        }
        let (badge, h) = (w.badge, w.handle);
        let r = match w.kind {
            Kind::Accept => stack.accept(badge, h).map(|a| {
                a.map(|(c, r)| [c, u32::from_be_bytes(r.ip) as u64, r.port as u64, 0, 0, 0])
            }),
            Kind::Read => {
                let mut c = LeaseCursor::default();
                let r = stack.read(badge, h, w.lease_len, |data| {
                    c.step(w.token.lease_write(0, c.off, data))
                });
                if c.refused() {
                    return Outcome::Failed(status::BAD_LEASE);
                }
                r.map(|n| n.map(|n| [n as u64, 0, 0, 0, 0, 0]))
            }
            Kind::Write => {
                let mut c = LeaseCursor::default();
                let r = stack.write(badge, h, w.lease_len, |room| {
                    c.step(w.token.lease_read(0, c.off, room))
                });
                if c.refused() {
                    return Outcome::Failed(status::BAD_LEASE);
                }
                r.map(|n| n.map(|n| [n as u64, 0, 0, 0, 0, 0]))
            }
            Kind::Poll => {
                let mut words = [0u64; 6];
                let mut n = 0;
                for h in stack.handles(badge) {
                    let want = self.want_write.contains(&(badge, h));
                    if stack.is_ready(badge, h, want) {
                        if n < POLL_MAX {
                            words[1 + n] = h;
                        }
                        n += 1;
                        self.want_write.retain(|&x| x != (badge, h));
                    }
                }
                words[0] = n as u64;
                Ok((n > 0).then_some(words))
            }
        };
        match r {
            Ok(Some(words)) => Outcome::Done(words),
            Ok(None) => Outcome::Wait,
            Err(e) => Outcome::Failed(status_of(e)),
        }
    }

    /// Retries every waiting call; true if any was answered.
    pub fn retry(&mut self, stack: &mut Stack, down: bool) -> bool {
        let mut any = false;
        for w in core::mem::take(&mut self.waiting) {
            match self.attempt(stack, down, &w) {
                Outcome::Wait => self.waiting.push(w),
                outcome => {
                    any = true;
                    self.answer(stack, w.badge, w.token, outcome);
                }
            }
        }
        any
    }

    pub fn call(
        &mut self,
        stack: &mut Stack,
        down: bool,
        badge: u64,
        token: ReplyToken,
        msg: &Message,
        mac: [u8; 6],
    ) {
        let request = match Request::decode(msg) {
            Ok(r) => r,
            Err(_) => {
                return self.answer(stack, badge, token, Outcome::Failed(status::BAD_REQUEST))
            }
        };
        let lease_len = msg.leases[0].len as usize;
        let (kind, handle, call_flags) = match request {
            Request::Listen { port, backlog } => {
                let outcome = match stack.listen(badge, port, backlog as usize) {
                    Ok(h) => Outcome::Done([h, 0, 0, 0, 0, 0]),
                    Err(e) => Outcome::Failed(status_of(e)),
                };
                return self.answer(stack, badge, token, outcome);
            }
            Request::Close { handle } => {
                let outcome = match stack.close(badge, handle) {
                    Ok(()) => Outcome::Done([0; 6]),
                    Err(e) => Outcome::Failed(status_of(e)),
                };
                self.want_write.retain(|&x| x != (badge, handle));
                let mut i = 0;
                while i < self.waiting.len() {
                    if self.waiting[i].badge == badge && self.waiting[i].handle == handle {
                        let w = self.waiting.swap_remove(i);
                        self.answer(stack, badge, w.token, Outcome::Failed(status::CLOSED));
                    } else {
                        i += 1;
                    }
                }
                return self.answer(stack, badge, token, outcome);
            }
            Request::Info {} => {
                let (l, c, _) = stack.counts();
                let words = [
                    u32::from_be_bytes(crate::IP) as u64,
                    virtio_net_api::mac_to_word(mac),
                    l as u64,
                    c as u64,
                    stack.stats.frames_in,
                    stack.stats.frames_out,
                ];
                return self.answer(stack, badge, token, Outcome::Done(words));
            }
            Request::DriverStats {} => {
                let outcome = match self.driver_stats {
                    Some(w) => Outcome::Done(w),
                    None => Outcome::Failed(status::NET_DOWN),
                };
                return self.answer(stack, badge, token, outcome);
            }
            Request::Stats {} => {
                let words = self.stats;
                return self.answer(stack, badge, token, Outcome::Done(words));
            }
            Request::Accept { listener, flags } => (Kind::Accept, listener, flags),
            Request::Read { conn, flags } => (Kind::Read, conn, flags),
            Request::Write { conn, flags } => (Kind::Write, conn, flags),
            Request::Poll {} => (Kind::Poll, 0, 0),
        };
        if kind == Kind::Read && lease_len == 0 {
            // Nothing could be read into it, and 0 would mean end of stream.
            return self.answer(stack, badge, token, Outcome::Failed(status::BAD_LEASE));
        }
        let busy = self
            .waiting
            .iter()
            .any(|w| w.badge == badge && w.kind == kind && w.handle == handle);
        if busy {
            return self.answer(stack, badge, token, Outcome::Failed(status::BUSY));
        }
        let w = Waiting {
            kind,
            badge,
            handle,
            token,
            lease_len,
        };
        match self.attempt(stack, down, &w) {
            Outcome::Wait if call_flags & flags::NONBLOCK != 0 => {
                if kind == Kind::Write && !self.want_write.contains(&(badge, handle)) {
                    self.want_write.push((badge, handle));
                }
                self.answer(stack, badge, w.token, Outcome::Failed(status::WOULD_BLOCK))
            }
            Outcome::Wait => self.waiting.push(w),
            outcome => self.answer(stack, badge, w.token, outcome),
        }
    }
}

/// Where a copy through the caller's lease is, across the socket buffer's
/// pieces: a kernel refusal stops it, and is the call's error only when
/// no byte moved.
#[derive(Default)]
struct LeaseCursor {
    off: u64,
    bad: bool,
}

impl LeaseCursor {
    /// Counts one lease copy's result; returns the bytes it moved.
    fn step(&mut self, copied: Result<usize, userlib::Error>) -> usize {
        match copied {
            Ok(n) => {
                self.off += n as u64;
                n
            }
            Err(_) => {
                self.bad = true;
                0
            }
        }
    }

    fn refused(&self) -> bool {
        self.bad && self.off == 0
    }
}
