//! Client calls: `net_api::sockets::Server` over the stack. Each call is
//! tried at once; an `accept`, `read`, `write` or `poll` that cannot
//! progress keeps its `Pending` (the caller, answered later with its typed
//! result) in `Calls::waiting` and is retried after every poll of the stack
//! (a deferred reply).
//!
//! # Invariants
//! - At most one waiting call per (client, handle, kind), and one `poll`
//!   per client: a second one is answered `Busy`.
//! - A waiting call is answered exactly once: when it progresses, fails, its
//!   handle is closed (`Closed`), or the network goes down (`NetDown`).

use alloc::vec::Vec;
use net_api::{flags, sockets, Accepted, Counters, Info, NetError, Ready, POLL_MAX};
use netstack::{Handle, SockError, Stack};
use userlib::abi::iface::Pending;
use userlib::abi::{Error, Lease};
use userlib::ipc::ReplyToken;
use userlib::println;

/// A waiting call: the caller, to answer with its operation's reply type.
enum Held {
    Accept(Pending<ReplyToken, Accepted, NetError>),
    Read(Pending<ReplyToken, u64, NetError>),
    Write(Pending<ReplyToken, u64, NetError>),
    Poll(Pending<ReplyToken, Ready, NetError>),
}

impl Held {
    fn kind(&self) -> u8 {
        match self {
            Held::Accept(_) => 0,
            Held::Read(_) => 1,
            Held::Write(_) => 2,
            Held::Poll(_) => 3,
        }
    }
}

struct Waiting {
    held: Held,
    badge: u64,
    handle: Handle,
    lease_len: usize,
    /// The call's flags (`poll` reads `NO_ACCEPT` from them).
    flags: u64,
    /// When a `poll` with a timeout is answered with nothing ready (ms).
    deadline: Option<u64>,
}

/// What trying a call gave.
enum Progress {
    Accepted(Accepted),
    Bytes(u64),
    Ready(Ready),
}

pub struct Calls {
    /// The driver's counters, fetched by the main loop when asked for.
    pub driver_stats: Option<[u64; 6]>,
    /// The `stats` reply, kept up to date by the main loop.
    pub stats: [u64; 6],
    waiting: Vec<Waiting>,
    /// (client, connection) pairs whose `NONBLOCK` write would have waited:
    /// `poll` reports them when they have room again.
    want_write: Vec<(u64, Handle)>,
}

fn net_error(e: SockError) -> NetError {
    match e {
        SockError::BadHandle => NetError::BadHandle {},
        SockError::BadPort => NetError::BadPort {},
        SockError::PortInUse => NetError::PortInUse {},
        SockError::TooMany => NetError::TooMany {},
        SockError::Reset => NetError::Reset {},
        SockError::Closed => NetError::Closed {},
    }
}

/// Answers a waiting call with `result` (its progress or an error).
fn answer(held: Held, result: Result<Progress, NetError>) -> Result<(), Error> {
    // Each kind's attempt gives its own progress; another is impossible.
    let mismatch = || NetError::BadLease {};
    match held {
        Held::Accept(p) => p.reply(result.and_then(|r| match r {
            Progress::Accepted(a) => Ok(a),
            _ => Err(mismatch()),
        })),
        Held::Read(p) | Held::Write(p) => p.reply(result.and_then(|r| match r {
            Progress::Bytes(n) => Ok(n),
            _ => Err(mismatch()),
        })),
        Held::Poll(p) => p.reply(result.and_then(|r| match r {
            Progress::Ready(r) => Ok(r),
            _ => Err(mismatch()),
        })),
    }
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

    /// A client whose answer could not be delivered (it died): its handles
    /// are closed and its waiting calls dropped.
    pub fn client_gone(&mut self, stack: &mut Stack, badge: u64) {
        let n = stack.close_all(badge);
        self.waiting.retain(|w| w.badge != badge);
        self.want_write.retain(|&(b, _)| b != badge);
        println!("net: client {badge} died; closed its {n} handle(s)");
    }

    fn finish(&mut self, stack: &mut Stack, w: Waiting, result: Result<Progress, NetError>) {
        let badge = w.badge;
        if answer(w.held, result) == Err(Error::PeerDead) {
            self.client_gone(stack, badge);
        }
    }

    /// Tries `w`: `None` while it must wait.
    fn attempt(
        &mut self,
        stack: &mut Stack,
        down: bool,
        w: &Waiting,
    ) -> Option<Result<Progress, NetError>> {
        if down {
            return Some(Err(NetError::NetDown {}));
        }
        let (badge, h) = (w.badge, w.handle);
        let r = match &w.held {
            Held::Accept(_) => stack.accept(badge, h).map(|a| {
                a.map(|(conn, r)| {
                    Progress::Accepted(Accepted {
                        conn,
                        peer_ip: r.ip,
                        peer_port: r.port,
                    })
                })
            }),
            Held::Read(p) => {
                let mut c = LeaseCursor::default();
                let r = stack.read(badge, h, w.lease_len, |data| {
                    c.step(p.caller().lease_write(0, c.off, data))
                });
                if c.refused() {
                    return Some(Err(NetError::BadLease {}));
                }
                r.map(|n| n.map(|n| Progress::Bytes(n as u64)))
            }
            Held::Write(p) => {
                let mut c = LeaseCursor::default();
                let r = stack.write(badge, h, w.lease_len, |room| {
                    c.step(p.caller().lease_read(0, c.off, room))
                });
                if c.refused() {
                    return Some(Err(NetError::BadLease {}));
                }
                r.map(|n| n.map(|n| Progress::Bytes(n as u64)))
            }
            Held::Poll(_) => {
                let mut ready = Ready::default();
                let accept = w.flags & flags::NO_ACCEPT == 0;
                let want_write = &self.want_write;
                let n = stack.ready(
                    badge,
                    accept,
                    |h| want_write.contains(&(badge, h)),
                    &mut ready.handles,
                );
                // Only a handle named in the reply has its wish to write
                // answered: one beyond POLL_MAX keeps it, or it is never
                // reported writable again (a pull stalled for good when
                // more than five were ready).
                let named = &ready.handles[..n.min(POLL_MAX)];
                self.want_write
                    .retain(|&(b, h)| b != badge || !named.contains(&h));
                ready.n = n as u64;
                let expired = w.deadline.is_some_and(|d| crate::now_ms() >= d);
                Ok((n > 0 || expired).then_some(Progress::Ready(ready)))
            }
        };
        match r {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => Some(Err(net_error(e))),
        }
    }

    /// Retries every waiting call; true if any was answered.
    pub fn retry(&mut self, stack: &mut Stack, down: bool) -> bool {
        let mut any = false;
        for w in core::mem::take(&mut self.waiting) {
            match self.attempt(stack, down, &w) {
                None => self.waiting.push(w),
                Some(result) => {
                    any = true;
                    self.finish(stack, w, result);
                }
            }
        }
        any
    }

    /// A new waiting-capable call: answered now, refused as `Busy` or
    /// `WouldBlock`, or kept.
    fn start(&mut self, stack: &mut Stack, down: bool, w: Waiting, call_flags: u64) {
        let busy = self
            .waiting
            .iter()
            .any(|o| o.badge == w.badge && o.held.kind() == w.held.kind() && o.handle == w.handle);
        if busy {
            return self.finish(stack, w, Err(NetError::Busy {}));
        }
        match self.attempt(stack, down, &w) {
            None if call_flags & flags::NONBLOCK != 0 => {
                let key = (w.badge, w.handle);
                if matches!(w.held, Held::Write(_)) && !self.want_write.contains(&key) {
                    self.want_write.push(key);
                }
                self.finish(stack, w, Err(NetError::WouldBlock {}))
            }
            None => self.waiting.push(w),
            Some(result) => self.finish(stack, w, result),
        }
    }
}

/// One call's view of the service: what the interface's methods need.
pub struct Serving<'a> {
    pub calls: &'a mut Calls,
    pub stack: &'a mut Stack,
    pub down: bool,
    pub mac: [u8; 6],
}

impl Serving<'_> {
    fn start(&mut self, badge: u64, held: Held, handle: Handle, lease_len: usize, f: u64) {
        let w = Waiting {
            held,
            badge,
            handle,
            lease_len,
            flags: f,
            deadline: None,
        };
        self.calls.start(self.stack, self.down, w, f);
    }
}

impl sockets::Server<ReplyToken> for Serving<'_> {
    fn listen(&mut self, badge: u64, port: u16, backlog: u32) -> Result<u64, NetError> {
        self.stack
            .listen(badge, port, backlog as usize)
            .map_err(net_error)
    }

    fn accept(
        &mut self,
        badge: u64,
        pending: Pending<ReplyToken, Accepted, NetError>,
        listener: u64,
        f: u64,
    ) {
        self.start(badge, Held::Accept(pending), listener, 0, f);
    }

    fn read(
        &mut self,
        badge: u64,
        pending: Pending<ReplyToken, u64, NetError>,
        conn: u64,
        f: u64,
        buf: Lease,
    ) {
        // The dispatch refused an empty lease: 0 would mean end of stream.
        self.start(badge, Held::Read(pending), conn, buf.len as usize, f);
    }

    fn write(
        &mut self,
        badge: u64,
        pending: Pending<ReplyToken, u64, NetError>,
        conn: u64,
        f: u64,
        data: Lease,
    ) {
        self.start(badge, Held::Write(pending), conn, data.len as usize, f);
    }

    fn close(&mut self, badge: u64, handle: u64) -> Result<(), NetError> {
        let closed = self.stack.close(badge, handle).map_err(net_error);
        self.calls.want_write.retain(|&x| x != (badge, handle));
        let mut i = 0;
        while i < self.calls.waiting.len() {
            let w = &self.calls.waiting[i];
            if w.badge == badge && w.handle == handle {
                let w = self.calls.waiting.swap_remove(i);
                self.calls.finish(self.stack, w, Err(NetError::Closed {}));
            } else {
                i += 1;
            }
        }
        closed
    }

    fn info(&mut self, _badge: u64) -> Result<Info, NetError> {
        let (listeners, connections, _) = self.stack.counts();
        Ok(Info {
            ip: u32::from_be_bytes(crate::IP),
            mac: virtio_net_api::mac_to_word(self.mac),
            listeners: listeners as u64,
            connections: connections as u64,
            frames_in: self.stack.stats.frames_in,
            frames_out: self.stack.stats.frames_out,
        })
    }

    fn poll(
        &mut self,
        badge: u64,
        pending: Pending<ReplyToken, Ready, NetError>,
        f: u64,
        timeout_ms: u64,
    ) {
        // `NONBLOCK` is not `poll`'s: only `NO_ACCEPT` is kept. The timer
        // runs (2 Hz) while any call waits, so the deadline is noticed.
        let w = Waiting {
            held: Held::Poll(pending),
            badge,
            handle: 0,
            lease_len: 0,
            flags: f & flags::NO_ACCEPT,
            deadline: (timeout_ms > 0).then(|| crate::now_ms().saturating_add(timeout_ms)),
        };
        self.calls.start(self.stack, self.down, w, 0);
    }

    fn stats(&mut self, _badge: u64) -> Result<Counters, NetError> {
        Ok(Counters(self.calls.stats))
    }

    fn driver_stats(&mut self, _badge: u64) -> Result<Counters, NetError> {
        self.calls
            .driver_stats
            .map(Counters)
            .ok_or(NetError::NetDown {})
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
