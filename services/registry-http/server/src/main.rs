//! The registry HTTP service (ring 3): the OCI Distribution API of
//! `registry-http` served on a TCP port of the network service, over the
//! fs/registry service.
//!
//! One process, one thread, many connections: the service waits in the
//! network service's `Poll`, then moves each ready connection's bytes with
//! non-blocking calls. Each connection is a `registry_http::Connection`
//! (the sans-IO state machine) with two small buffers: input it could not
//! take yet (it is busy answering) and output the socket could not take
//! yet. Storage calls are synchronous IPC to the fs service, so one
//! request's storage work runs to completion before the next connection is
//! served; a blob body streams in pieces of `Limits::upload_piece`.
//!
//! Capabilities (boot configuration): slot 0 = the network service, slot 1
//! = the fs/registry service. Boot argument: the TCP port (0: 5000).
#![no_std]
#![no_main]

extern crate alloc;

mod accounts;
mod backend;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use fs_api::client::FsClient;
use net_api::{Net, SocketError, POLL_MAX};
use registry_http::{Bulk, Connection, Limits, Timeout};
use userlib::ipc::Endpoint;
use userlib::println;

use accounts::{Mark, Transfer};
use backend::FsBackend;

userlib::entry!(main);

/// Bytes moved per socket write (and the response buffer of a connection
/// that does not pull).
const IO_PIECE: usize = 64 * 1024;
/// Bytes a socket read may take: the network service's whole receive
/// buffer (`netstack::RX_BUFFER`, the largest window it advertises), so
/// one read empties it; a push then costs about one poll and one read per
/// 128 KiB instead of 64 KiB reads and a read that would block.
const READ_PIECE: usize = 128 * 1024;
/// Bytes of a blob read per fs call while a connection pulls: the fs
/// service's own step, so a MiB costs one call, one path lookup and one
/// batch of chunk fetches instead of 16 (each call has a fixed cost: the
/// IPC round trip, the blob's path walk, the extent lookup).
const PULL_PIECE: usize = fs_api::PIECE;
/// Connections that may hold a `PULL_PIECE` buffer at once (bounded
/// memory: 4 MiB of the service's 16); further pulls use `IO_PIECE`.
const PULL_PIECES: usize = 4;
/// Connections served at once; more wait in the listener's backlog
/// until one closes or has been idle between requests `EVICT_IDLE_MS`.
const MAX_CONNECTIONS: usize = 32;
/// How long a connection must have been idle between requests before a
/// waiting client may take its slot.
const EVICT_IDLE_MS: u64 = 1000;
/// After an `accept` failed (the network service's table full), the
/// listener is left out of `Poll` this long: it stays ready, and asking
/// again at once would spin.
const ACCEPT_RETRY_MS: u64 = 1000;

struct Client {
    http: Connection,
    /// Received bytes the connection has not taken yet.
    pending_in: Vec<u8>,
    /// Response bytes the socket has not taken yet, from `out_pos`.
    pending_out: Vec<u8>,
    out_pos: usize,
    /// When the socket last took bytes of `pending_out` (ms).
    last_write: u64,
}

fn now_ms() -> u64 {
    let (ticks, hz) = userlib::sys::ticks();
    ticks.saturating_mul(1000) / hz.max(1)
}

fn limits() -> Limits {
    Limits {
        // One durable fs commit per piece: larger pieces, fewer flushes.
        upload_piece: fs_api::PIECE,
        ..Limits::default()
    }
}

/// What became of a connection after it was served.
enum Served {
    Open,
    Closed,
}

struct Service {
    net: Net,
    backend: FsBackend,
    clients: BTreeMap<u64, Client>,
    inbuf: Vec<u8>,
    /// The bulk transfer being accounted (`accounts.rs`).
    transfer: Option<Transfer>,
    /// Socket calls and bytes moved, counted for `transfer`.
    net_calls: u64,
    /// Reads answered `WOULD_BLOCK`, counted for `transfer` (the reads
    /// after a short read are skipped, so a push makes next to none).
    empty_reads: u64,
    bytes: u64,
    /// The earliest timeout of a connection (ms), as `expire` left them.
    next_timeout: Option<u64>,
    /// No `accept` before this time (ms): the last one failed.
    accept_again: u64,
}

impl Service {
    /// Moves bytes on `h` until it would block, or it is finished.
    fn serve(&mut self, h: u64) -> Served {
        let big = self
            .clients
            .values()
            .filter(|c| c.pending_out.capacity() >= PULL_PIECE)
            .count();
        let Some(c) = self.clients.get_mut(&h) else {
            return Served::Closed;
        };
        // Set by a read that did not fill `inbuf`: the socket had no more,
        // so another read now would only say so; `Poll` (level-triggered)
        // reports the connection again when more arrives.
        let mut drained = false;
        loop {
            // 1. What the socket has not taken yet.
            while c.out_pos < c.pending_out.len() {
                self.net_calls += 1;
                match self
                    .net
                    .write_with(h, &c.pending_out[c.out_pos..], Net::NONBLOCK)
                {
                    Ok(n) => {
                        c.out_pos += n;
                        self.bytes += n as u64;
                        c.last_write = now_ms();
                    }
                    Err(e) if Net::would_block(&e) => return Served::Open,
                    Err(_) => {
                        c.http.abort(&mut self.backend);
                        return Served::Closed;
                    }
                }
            }
            // 2. More response bytes: a blob in large pieces (while few
            // connections hold one), anything else in small ones.
            let pulling = c.http.bulk() == Some(Bulk::Pull);
            if !pulling && c.pending_out.capacity() > IO_PIECE {
                c.pending_out = Vec::new(); // the pull is over: its memory goes
            }
            if c.http.has_output() {
                let has_big = c.pending_out.capacity() >= PULL_PIECE;
                let piece = if pulling && (has_big || big < PULL_PIECES) {
                    PULL_PIECE
                } else {
                    IO_PIECE
                };
                c.pending_out.resize(piece, 0);
                let n = c.http.write_output(&mut self.backend, &mut c.pending_out);
                c.pending_out.truncate(n);
                c.out_pos = 0;
                if n > 0 {
                    continue;
                }
            }
            if c.http.is_closed() {
                return Served::Closed;
            }
            // 3. Input received earlier that the connection could not take.
            if !c.pending_in.is_empty() {
                let used = c.http.on_input(&mut self.backend, &c.pending_in, now_ms());
                c.pending_in.drain(..used);
                if used > 0 || c.http.has_output() {
                    continue;
                }
            }
            // 4. New input.
            if drained {
                return Served::Open;
            }
            self.net_calls += 1;
            match self.net.read_with(h, &mut self.inbuf, Net::NONBLOCK) {
                Ok(0) => {
                    // The client closed: what it sent is answered already,
                    // an unfinished request is undone.
                    c.http.abort(&mut self.backend);
                    return Served::Closed;
                }
                Ok(n) => {
                    drained = n < self.inbuf.len();
                    self.bytes += n as u64;
                    let used = c
                        .http
                        .on_input(&mut self.backend, &self.inbuf[..n], now_ms());
                    c.pending_in.extend_from_slice(&self.inbuf[used..n]);
                }
                Err(e) if Net::would_block(&e) => {
                    self.empty_reads += 1;
                    return Served::Open;
                }
                Err(_) => {
                    c.http.abort(&mut self.backend);
                    return Served::Closed;
                }
            }
        }
    }

    fn accept_all(&mut self, listener: u64) {
        loop {
            // All slots taken: a waiting client gets the slot of the
            // connection idle longest between requests. Without this, 32
            // idle keep-alive connections (clients' pools) kept every new
            // client waiting out `idle_timeout` (a minute), while the
            // listener, ready and never accepted, kept this service and the
            // network service polling at full CPU.
            let room = if self.clients.len() < MAX_CONNECTIONS {
                None
            } else {
                let Some(h) = self.longest_idle() else {
                    return;
                };
                // Its request may have arrived since the last `Poll`, not
                // read yet: it only looks idle, and would be closed under
                // its client with a request on the way. Served first, it
                // is given up only if it still is.
                if let Served::Closed = self.serve(h) {
                    self.clients.remove(&h);
                    let _ = self.net.close(h);
                    continue;
                }
                if self.longest_idle() != Some(h) {
                    continue;
                }
                Some(h)
            };
            match self.net.accept_with(listener, Net::NONBLOCK) {
                Ok(a) => {
                    if let Some(h) = room {
                        self.clients.remove(&h);
                        let _ = self.net.close(h);
                    }
                    self.clients.insert(
                        a.conn,
                        Client {
                            http: Connection::new(limits(), now_ms()),
                            pending_in: Vec::new(),
                            pending_out: Vec::new(),
                            out_pos: 0,
                            last_write: now_ms(),
                        },
                    );
                }
                Err(e) if Net::would_block(&e) => return,
                Err(e) => {
                    println!("registry: accept failed: {e}; retrying in {ACCEPT_RETRY_MS} ms");
                    self.accept_again = now_ms().saturating_add(ACCEPT_RETRY_MS);
                    return;
                }
            }
        }
    }

    /// The connection idle longest between requests, and since when, with
    /// nothing of its own waiting either.
    fn idlest(&self) -> Option<(u64, u64)> {
        self.clients
            .iter()
            .filter(|(_, c)| c.pending_in.is_empty() && c.out_pos >= c.pending_out.len())
            .filter_map(|(h, c)| c.http.idle_since().map(|t| (t, *h)))
            .min()
    }

    /// The connection idle longest between requests, if one has been for
    /// `EVICT_IDLE_MS` (one that just answered is likely to be sent its
    /// next request at once).
    fn longest_idle(&self) -> Option<u64> {
        let now = now_ms();
        self.idlest()
            .filter(|(t, _)| now.saturating_sub(*t) >= EVICT_IDLE_MS)
            .map(|(_, h)| h)
    }

    /// What the next `Poll` asks: its flags and timeout (ms, 0 = none).
    /// While the service cannot take a connection (every slot busy and
    /// none idle long enough to give up, or `accept` just failed) its
    /// listener is left out (`NO_ACCEPT`): a client waiting in the backlog
    /// made every `Poll` return at once, and this service and the network
    /// service spun at full CPU until a slot freed. The timeout wakes the
    /// service for the first connection timeout (head, idle) and for the
    /// moment an idle connection may give its slot up.
    fn next_poll(&self) -> (u64, u64) {
        let now = now_ms();
        let mut wake = self.next_timeout;
        let mut earliest = |t: u64| wake = Some(wake.map_or(t, |w| w.min(t)));
        let mut flags = 0;
        if now < self.accept_again {
            flags = Net::NO_ACCEPT;
            earliest(self.accept_again);
        } else if self.clients.len() >= MAX_CONNECTIONS {
            match self.idlest() {
                Some((t, _)) if now.saturating_sub(t) >= EVICT_IDLE_MS => {}
                Some((t, _)) => {
                    flags = Net::NO_ACCEPT;
                    earliest(t.saturating_add(EVICT_IDLE_MS));
                }
                None => flags = Net::NO_ACCEPT,
            }
        }
        let timeout = wake.map_or(0, |t| t.saturating_sub(now).max(1));
        (flags, timeout)
    }

    /// Starts or ends the accounting of a bulk transfer: one runs while
    /// any connection moves a body. `mark`: the accounts when this round
    /// began (taken while no transfer runs; the counters restart then too).
    fn account(&mut self, mark: Option<Mark>) {
        let bulk = self.clients.values().find_map(|c| c.http.bulk());
        match (&mut self.transfer, bulk) {
            (None, Some(kind)) => {
                self.transfer = Transfer::begin(kind, mark);
                if let Some(t) = &mut self.transfer {
                    t.progress(self.bytes, &self.net);
                }
            }
            (Some(t), Some(_)) => t.progress(self.bytes, &self.net),
            (Some(t), None) => {
                t.bytes = self.bytes;
                t.net_calls = self.net_calls;
                t.empty_reads = self.empty_reads;
                t.fs_calls = self.backend.calls;
                if let Some(t) = self.transfer.take() {
                    t.end(&self.net);
                }
            }
            _ => {}
        }
    }

    /// Closes connections whose idle or head timeout passed. A connection
    /// whose last response is complete (`Connection: close`) but not yet
    /// all taken by the socket stays until it is (`serve` closes it then),
    /// or until the socket took nothing for the idle timeout: closing it
    /// at once cut that response short of its `Content-Length` (seen as
    /// skopeo's "unexpected EOF" on a loaded machine).
    /// Leaves the earliest timeout of the others in `next_timeout`.
    fn expire(&mut self) {
        let now = now_ms();
        let idle = limits().idle_timeout;
        let mut next: Option<u64> = None;
        let expired: Vec<u64> = self
            .clients
            .iter_mut()
            .filter_map(|(h, c)| {
                let unsent = c.out_pos < c.pending_out.len();
                let at = if unsent && c.http.is_closed() {
                    let at = c.last_write.saturating_add(idle);
                    (now < at).then_some(at)
                } else {
                    match c.http.poll_timeout(&mut self.backend, now) {
                        Timeout::At(at) => Some(at),
                        Timeout::Expired => None,
                    }
                };
                if let Some(at) = at {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                at.is_none().then_some(*h)
            })
            .collect();
        self.next_timeout = next;
        for h in expired {
            if let Some(mut c) = self.clients.remove(&h) {
                // A late head's `408` (a few hundred bytes: the socket's
                // send buffer takes them at once), unless an earlier
                // answer is still unsent: best effort, never waited on.
                let mut answer = [0u8; 512];
                let n = c.http.write_output(&mut self.backend, &mut answer);
                if n > 0 && c.out_pos >= c.pending_out.len() {
                    let _ = self.net.write_with(h, &answer[..n], Net::NONBLOCK);
                }
            }
            let _ = self.net.close(h);
        }
    }
}

fn main() {
    let net = Net::new(Endpoint(0));
    let port = match userlib::boot_arg() & 0xFFFF {
        0 => net_api::REGISTRY_PORT,
        p => p as u16,
    };
    let listener = match net.listen(port, 16) {
        Ok(h) => h,
        Err(e) => {
            println!("registry: cannot listen on port {port}: {e}");
            return;
        }
    };
    println!("registry: serving the OCI Distribution API on port {port}");
    let mut svc = Service {
        net,
        backend: FsBackend::new(FsClient::new(1)),
        clients: BTreeMap::new(),
        inbuf: vec![0u8; READ_PIECE],
        transfer: None,
        net_calls: 0,
        empty_reads: 0,
        bytes: 0,
        next_timeout: None,
        accept_again: 0,
    };
    loop {
        let mut ready = [0u64; POLL_MAX];
        svc.net_calls += 1;
        let (flags, timeout) = svc.next_poll();
        let n = match svc.net.poll_with(&mut ready, flags, timeout) {
            Ok(n) => n,
            Err(SocketError::Kernel(e)) => {
                println!("registry: the network service is gone ({e:?}); stopping");
                return;
            }
            Err(e) => {
                println!("registry: poll failed: {e}; stopping");
                return;
            }
        };
        // While no transfer runs, each round may start one: it is
        // accounted from here (accounts.rs).
        let mark = match svc.transfer {
            None => {
                svc.net_calls = 1; // the poll
                svc.empty_reads = 0;
                svc.bytes = 0;
                svc.backend.calls = 0;
                Mark::now()
            }
            Some(_) => None,
        };
        for &h in &ready[..n] {
            if h == listener {
                svc.accept_all(listener);
                continue;
            }
            if let Served::Closed = svc.serve(h) {
                svc.clients.remove(&h);
                let _ = svc.net.close(h);
            }
        }
        svc.expire();
        svc.account(mark);
    }
}
