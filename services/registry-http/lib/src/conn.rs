//! One HTTP/1.1 connection as a state machine: bytes in
//! ([`Connection::on_input`]), bytes out ([`Connection::write_output`]),
//! time passing ([`Connection::poll_timeout`]). No socket, no clock, no
//! threads: the service loop owns those.
//!
//! # States
//! `Head` (collecting a request head, at most `max_head` bytes) →
//! `Body` (body bytes go to a [`BodySink`] as they arrive) → `Responding`
//! (the answer is being written; pipelined input waits in the head
//! buffer) → back to `Head`, or `Closed` when either side did not keep the
//! connection alive or something went wrong.
//!
//! # Bounded memory
//! Input: the head buffer (`max_head`) plus the sink's staging piece
//! (`upload_piece`) or a manifest (`max_manifest`). Output: one response
//! head and an in-memory body (errors, manifests, listings); blob bodies
//! are read from the backend straight into the caller's buffer.

use crate::backend::Backend;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{self, Framing, RequestHead};
use crate::http::response::{reason, Body, Response};
use crate::names::Digest;
use crate::router::{self, Ctx, Outcome};
use crate::sink::{BodySink, SinkKind};
use crate::Limits;
use alloc::string::String;
use alloc::vec::Vec;

enum BodyFraming {
    Length(u64),
    Chunked(ChunkedDecoder),
}

enum State {
    Head,
    Body {
        framing: BodyFraming,
        sink: BodySink,
        keep_alive: bool,
    },
    Responding {
        keep_alive: bool,
    },
    Closed,
}

/// A blob body still to send.
struct BlobStream {
    repo: String,
    digest: Digest,
    offset: u64,
    left: u64,
}

/// Which way a connection moves a body (see [`Connection::bulk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bulk {
    /// A blob response being sent.
    Pull,
    /// A request body being received.
    Push,
}

/// What [`Connection::poll_timeout`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Nothing to do before this time (same unit as `now`).
    At(u64),
    /// The connection timed out and is closed; drop it.
    Expired,
}

pub struct Connection {
    limits: Limits,
    state: State,
    /// Request head bytes, and pipelined input while responding.
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    stream: Option<BlobStream>,
    /// Once set, no further request is read.
    closing: bool,
    now: u64,
    last_activity: u64,
    request_started: Option<u64>,
    /// When the body being received started, and its bytes so far
    /// (`Limits::body_timeout`).
    body_started: u64,
    body_bytes: u64,
    /// The request being answered is a HEAD: no body bytes, whatever the
    /// answer (errors included).
    head_request: bool,
}

impl Connection {
    /// A new connection accepted at time `now` (any monotonic unit that
    /// [`Limits`]' timeouts use, e.g. milliseconds).
    pub fn new(limits: Limits, now: u64) -> Connection {
        Connection {
            limits,
            state: State::Head,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            stream: None,
            closing: false,
            now,
            last_activity: now,
            request_started: None,
            body_started: now,
            body_bytes: 0,
            head_request: false,
        }
    }

    /// True when all output has been taken and the socket should close.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
            && self.out_pos >= self.out.len()
            && self.stream.is_none()
    }

    /// What the connection is moving in bulk now: a blob body out (a
    /// pull) or a request body in (a push). The service uses it to account
    /// a transfer's CPU time (it does not change what the connection does).
    pub fn bulk(&self) -> Option<Bulk> {
        if self.stream.is_some() {
            Some(Bulk::Pull)
        } else if matches!(self.state, State::Body { .. }) {
            Some(Bulk::Push)
        } else {
            None
        }
    }

    /// Since when (the `now` of its last activity) the connection has
    /// been idle between requests: no byte of a request received, nothing
    /// left to send. `None` while a request is received or answered, and
    /// once it is closing. A server may close a keep-alive connection at
    /// such a moment (RFC 9112, 9.6; clients open a new one): the service
    /// closes the longest idle one when all its slots are taken and a new
    /// client waits, instead of leaving that client waiting out
    /// `idle_timeout`.
    pub fn idle_since(&self) -> Option<u64> {
        let between = matches!(self.state, State::Head)
            && self.inbuf.is_empty()
            && self.request_started.is_none()
            && !self.closing
            && !self.has_output();
        between.then_some(self.last_activity)
    }

    /// True when [`Self::write_output`] has bytes to give.
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len() || self.stream.is_some()
    }

    /// Takes bytes received from the client; returns how many were taken.
    /// Fewer than `data.len()` means the connection is busy answering:
    /// drain [`Self::write_output`] and offer the rest again.
    pub fn on_input<B: Backend>(&mut self, backend: &mut B, data: &[u8], now: u64) -> usize {
        self.now = now;
        self.last_activity = now;
        if self.closing {
            return data.len(); // nothing more is read: drop
        }
        let mut used = 0;
        loop {
            self.advance(backend);
            if used == data.len() || self.closing {
                return if self.closing { data.len() } else { used };
            }
            match self.state {
                State::Body { .. } if self.inbuf.is_empty() => {
                    used += self.feed_body(backend, &data[used..]);
                }
                State::Closed => return data.len(),
                _ => {
                    let room = self.limits.max_head.saturating_sub(self.inbuf.len());
                    let take = room.min(data.len() - used);
                    if take == 0 {
                        return used;
                    }
                    self.inbuf.extend_from_slice(&data[used..used + take]);
                    used += take;
                }
            }
        }
    }

    /// Fills `buf` with response bytes; returns how many. Blob bodies are
    /// read from the backend here, at most `buf.len()` bytes at a time.
    pub fn write_output<B: Backend>(&mut self, backend: &mut B, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            if self.out_pos < self.out.len() {
                let c = (self.out.len() - self.out_pos).min(buf.len() - n);
                buf[n..n + c].copy_from_slice(&self.out[self.out_pos..self.out_pos + c]);
                self.out_pos += c;
                n += c;
                continue;
            }
            self.out.clear();
            self.out_pos = 0;
            if let Some(s) = &mut self.stream {
                let want = usize::try_from(s.left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len() - n);
                match backend.blob_read(&s.repo, &s.digest, s.offset, &mut buf[n..n + want]) {
                    Ok(got) if got > 0 && got <= want => {
                        s.offset += got as u64;
                        s.left -= got as u64;
                        n += got;
                        if s.left == 0 {
                            self.stream = None;
                        }
                    }
                    // The head is sent: the only honest signal left is to
                    // cut the connection short of Content-Length.
                    _ => {
                        self.stream = None;
                        self.closing = true;
                        self.state = State::Closed;
                        self.inbuf.clear();
                        return n;
                    }
                }
                continue;
            }
            if let State::Responding { keep_alive } = self.state {
                self.request_started = None;
                if keep_alive {
                    self.state = State::Head;
                    self.advance(backend); // pipelined requests
                    continue;
                }
                self.state = State::Closed;
            }
            break;
        }
        if n > 0 {
            self.last_activity = self.now;
        }
        n
    }

    /// Checks the timeouts at `now`: when one expired the connection is
    /// closed (a half-received upload of this request is undone) and
    /// [`Timeout::Expired`] says to drop the socket. A request head late
    /// past `head_timeout` is answered `408 Request Timeout` first (as
    /// Apache does; a slow client learns why, a slowloris loses nothing
    /// by it): [`Self::write_output`] gives it, for the service to send
    /// as it drops the socket.
    pub fn poll_timeout<B: Backend>(&mut self, backend: &mut B, now: u64) -> Timeout {
        self.now = now;
        if matches!(self.state, State::Closed) {
            return Timeout::Expired;
        }
        let idle = self.last_activity.saturating_add(self.limits.idle_timeout);
        let head = match (&self.state, self.request_started) {
            (State::Head, Some(t)) => t.saturating_add(self.limits.head_timeout),
            _ => u64::MAX,
        };
        let body = self.body_deadline();
        let deadline = idle.min(head).min(body);
        if now < deadline {
            return Timeout::At(deadline);
        }
        self.abort(backend);
        // A slow client is told why before the socket goes (as Apache
        // does); one silent for `idle_timeout` is simply closed.
        let late = if now >= head {
            Some("the request head did not arrive in time")
        } else if now >= body {
            Some("the request body arrived too slowly")
        } else {
            None
        };
        if let Some(why) = late {
            let r = plain(408, why);
            r.encode_head(false, &mut self.out);
            if let Body::Bytes(b) = r.body {
                self.out.extend_from_slice(&b);
            }
        }
        Timeout::Expired
    }

    /// When the body being received is late (`Limits::body_timeout`):
    /// its start plus the base time plus the time its bytes so far earn
    /// at `body_min_rate`. `u64::MAX` when no body is being received.
    fn body_deadline(&self) -> u64 {
        if !matches!(self.state, State::Body { .. }) {
            return u64::MAX;
        }
        let earned = match self.limits.body_min_rate {
            0 => u64::MAX,
            rate => self.body_bytes.saturating_mul(1000) / rate,
        };
        self.body_started
            .saturating_add(self.limits.body_timeout)
            .saturating_add(earned)
    }

    /// The peer went away: undo what the request in progress created, and
    /// close.
    pub fn abort<B: Backend>(&mut self, backend: &mut B) {
        if let State::Body { sink, .. } = core::mem::replace(&mut self.state, State::Closed) {
            sink.abort(backend);
        }
        self.closing = true;
        self.stream = None;
        self.out.clear();
        self.out_pos = 0;
        self.inbuf.clear();
    }

    /// Processes buffered input as far as the state allows.
    fn advance<B: Backend>(&mut self, backend: &mut B) {
        loop {
            match self.state {
                State::Closed | State::Responding { .. } => return,
                State::Head => {
                    if self.inbuf.is_empty() {
                        return;
                    }
                    self.request_started.get_or_insert(self.now);
                    match request::parse(&self.inbuf) {
                        Ok(None) => {
                            if self.inbuf.len() >= self.limits.max_head {
                                self.fail(431, "request head too large");
                            }
                            return;
                        }
                        Err(e) => {
                            self.fail(e.status(), "malformed request head");
                            return;
                        }
                        Ok(Some((len, head))) => {
                            self.inbuf.drain(..len);
                            self.start_request(backend, head);
                        }
                    }
                }
                State::Body { .. } => {
                    if self.inbuf.is_empty() {
                        return;
                    }
                    let buf = core::mem::take(&mut self.inbuf);
                    let used = self.feed_body(backend, &buf);
                    self.inbuf = buf;
                    if matches!(self.state, State::Closed) || self.closing {
                        self.inbuf.clear();
                        return;
                    }
                    self.inbuf.drain(..used);
                }
            }
        }
    }

    fn start_request<B: Backend>(&mut self, backend: &mut B, head: RequestHead) {
        let outcome = {
            let mut cx = Ctx {
                backend,
                limits: &self.limits,
                req: &head,
            };
            router::dispatch(&mut cx)
        };
        let keep_alive = head.keep_alive;
        self.head_request = head.method == request::Method::Head;
        match (outcome, head.framing) {
            (Outcome::Respond(r), Framing::None) => self.queue(r, keep_alive),
            // Answered without the body. Drop a small one to keep the
            // connection; otherwise (or if the client waits for 100) close.
            (Outcome::Respond(r), Framing::Length(n))
                if !head.expect_continue && n <= self.limits.discard_max =>
            {
                let sink = BodySink::new(SinkKind::Discard(r), n);
                self.start_body();
                self.state = State::Body {
                    framing: BodyFraming::Length(n),
                    sink,
                    keep_alive,
                };
            }
            (Outcome::Respond(r), _) => self.queue(r, false),
            (Outcome::ReadBody(sink), Framing::None) => {
                let r = sink.finish(backend);
                self.queue(r, keep_alive);
            }
            (Outcome::ReadBody(sink), framing) => {
                if let Framing::Length(n) = framing {
                    if n > sink.limit() {
                        let e = sink.too_large();
                        sink.abort(backend);
                        self.queue(Response::error(&e), false);
                        return;
                    }
                }
                if head.expect_continue {
                    self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                let framing = match framing {
                    Framing::Length(n) => BodyFraming::Length(n),
                    _ => BodyFraming::Chunked(ChunkedDecoder::new()),
                };
                self.start_body();
                self.state = State::Body {
                    framing,
                    sink,
                    keep_alive,
                };
            }
        }
    }

    /// A body starts now (its deadline counts from here).
    fn start_body(&mut self) {
        self.body_started = self.now;
        self.body_bytes = 0;
    }

    /// Feeds body bytes to the sink; returns how many belonged to the body.
    fn feed_body<B: Backend>(&mut self, backend: &mut B, data: &[u8]) -> usize {
        let State::Body { framing, sink, .. } = &mut self.state else {
            return 0;
        };
        let mut used = 0;
        let mut error: Option<Response> = None;
        let done;
        match framing {
            BodyFraming::Length(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                if let Err(e) = sink.write(backend, &data[..take]) {
                    error = Some(Response::error(&e));
                }
                *left -= take as u64;
                used = take;
                done = *left == 0;
            }
            BodyFraming::Chunked(dec) => {
                while used < data.len() && !dec.is_done() {
                    match dec.decode(&data[used..]) {
                        Ok((n, piece)) => {
                            used += n;
                            if let Some(p) = piece {
                                if let Err(e) = sink.write(backend, p) {
                                    error = Some(Response::error(&e));
                                    break;
                                }
                            }
                        }
                        Err(_) => {
                            error = Some(plain(400, "malformed chunked body"));
                            break;
                        }
                    }
                }
                done = dec.is_done();
            }
        }
        self.body_bytes = self.body_bytes.saturating_add(used as u64);
        if error.is_some() || done {
            let State::Body {
                sink, keep_alive, ..
            } = core::mem::replace(&mut self.state, State::Head)
            else {
                return used;
            };
            match error {
                Some(r) => {
                    sink.abort(backend);
                    self.queue(r, false);
                }
                None => {
                    let r = sink.finish(backend);
                    self.queue(r, keep_alive);
                }
            }
        }
        used
    }

    fn queue(&mut self, r: Response, keep_alive: bool) {
        let keep_alive = keep_alive && !self.closing;
        r.encode_head(keep_alive, &mut self.out);
        if !r.head_only && !self.head_request {
            match r.body {
                Body::Empty => {}
                Body::Bytes(b) => self.out.extend_from_slice(&b),
                Body::Blob {
                    repo,
                    digest,
                    offset,
                    len,
                } => {
                    if len > 0 {
                        self.stream = Some(BlobStream {
                            repo,
                            digest,
                            offset,
                            left: len,
                        });
                    }
                }
            }
        }
        if !keep_alive {
            self.closing = true;
            self.inbuf.clear();
        }
        self.state = State::Responding { keep_alive };
    }

    /// An HTTP-level failure (bad head, framing): answer and close.
    fn fail(&mut self, status: u16, msg: &str) {
        self.inbuf.clear();
        self.head_request = false;
        self.queue(plain(status, msg), false);
    }
}

fn plain(status: u16, msg: &str) -> Response {
    let mut r = Response::new(status).header("Content-Type", "text/plain");
    r.body = Body::Bytes(alloc::format!("{} {}: {msg}\n", status, reason(status)).into_bytes());
    r
}
