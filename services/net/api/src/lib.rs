//! The network service's socket interface (`net-server`, binary `net`),
//! declared once ([`sockets`]: client stubs, the server's trait and
//! dispatch, typed errors [`NetError`]), and its client, [`Net`].
//!
//! Design principles:
//! - A few blocking calls, like BSD sockets without `select`: `Accept`,
//!   `Read` and `Write` are answered when they can make progress (the
//!   service keeps the reply token: a deferred reply), so a client never
//!   polls. Many connections at once, from one or several clients.
//! - Data travels in leases only: `Read` lends the caller's buffer for
//!   writing, `Write` lends the data for reading; the service copies straight
//!   between the lease and the TCP socket buffers.
//! - Errors are [`NetError`]s in the same reply (their codes are the
//!   [`status`] values callers compare with); a malformed call is refused
//!   by the generated dispatch before the service sees it.
//! - Handles are per client (the badge of its endpoint): a handle of another
//!   client is `BAD_HANDLE`.
//! - One waiting call per handle and direction: a second `Read` on a
//!   connection that already has one waiting is `BUSY`; one `Poll` per client.
//!
//! # Operations (label = operation)
//!
//! | request | words | leases | reply words | waits |
//! |---|---|---|---|---|
//! | `Listen` | port, backlog (1..=16) | — | listener handle | no |
//! | `Accept` | listener | — | connection handle, peer IPv4 (u32, big-endian order), peer port | until a connection arrives |
//! | `Read` | connection | 0: buffer, WRITE (1..=`MAX_IO` bytes) | bytes (0 = end of stream) | until data or end of stream |
//! | `Write` | connection | 0: data, READ (1..=`MAX_IO` bytes) | bytes accepted (≥ 1 unless the lease is empty) | while the send buffer is full |
//! | `Close` | handle | — | — | no |
//! | `Info` | — | — | IPv4 address, MAC (as in virtio-net-api), listeners, connections, frames received, frames sent |
//! | `Poll` | flags, timeout (ms, 0 = none) | — | n, then up to `POLL_MAX` ready handles | until one of the caller's handles is ready, or the timeout |
//! | `DriverStats` | — | — | the virtio-net driver's `Stats` (see `virtio-net-api`) | no |
//! | `Stats` | — | — | TSC cycles in the TCP/IP stack, in driver calls, in client calls (lease copies), asleep; timer interrupts; frames received and sent | no |
//!
//! `flags` (`Accept`, `Read`, `Write`): `flags::NONBLOCK` answers
//! `WOULD_BLOCK` instead of waiting. `Poll` is how one single-threaded
//! client serves many connections (as `select`): it waits until a handle of
//! the caller is ready — a listener with a connection to accept, a
//! connection with data, end of stream or an error to read, or a connection
//! with room to write after a `NONBLOCK` `Write` was answered `WOULD_BLOCK` —
//! and names up to `POLL_MAX` of them (`n` counts all); the client then
//! calls with `NONBLOCK`. A `Poll` with a timeout is answered `n = 0` once
//! that many milliseconds passed with nothing ready (at the service's next
//! timer tick: within half a second after), so a client keeps its own
//! timeouts (an HTTP server's head and idle timeouts) without a thread.
//!
//! `Poll`'s `flags::NO_ACCEPT` leaves the caller's listeners out: a client
//! that cannot take another connection now (its table is full) says so
//! with each `Poll`, as `select` is given only the descriptors it wants.
//! Without it, a listener whose client will not accept is ready for good,
//! and each `Poll` is answered at once: client and service spun at full
//! CPU while the registry had all its slots busy. The waiting connections
//! stay in the listener's backlog (the handshake done, their first bytes
//! buffered). Per call, not a state kept in the service (a `Pause` and a
//! `Resume` call): no extra call at each change, and nothing for a client
//! to forget to undo, or for the service to clean up at its death.
//!
//! `Write` accepts what fits in the socket's send buffer now (128 KiB per
//! connection); `Net::write_all` loops. The client lends at most [`MAX_IO`]
//! bytes per call (a larger buffer reads or writes in part, as it may anyway). `Close` of a connection sends FIN
//! after the data already written; a waiting `Read` or `Write` on it is
//! answered `CLOSED`.
#![cfg_attr(not(test), no_std)]

mod client;
pub use client::{Net, SocketError};

use abi::iface::Words;

/// An accepted connection: its handle and the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub conn: u64,
    pub peer_ip: [u8; 4],
    pub peer_port: u16,
}

/// Three words: the handle, the IPv4 address (u32, big-endian order), the port.
impl Words for Accepted {
    const COUNT: usize = 3;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.conn;
        out[1] = u64::from(u32::from_be_bytes(self.peer_ip));
        out[2] = u64::from(self.peer_port);
    }
    fn take(words: &[u64]) -> Option<Self> {
        Some(Accepted {
            conn: *words.first()?,
            peer_ip: u32::try_from(*words.get(1)?).ok()?.to_be_bytes(),
            peer_port: u16::try_from(*words.get(2)?).ok()?,
        })
    }
}

abi::words! {
    /// What `info` answers.
    pub struct Info {
        /// IPv4 address (u32, big-endian order).
        pub ip: u32,
        /// MAC as in virtio-net-api (`mac_to_word`).
        pub mac: u64,
        pub listeners: u64,
        pub connections: u64,
        pub frames_in: u64,
        pub frames_out: u64,
    }
}

/// What `poll` answers: how many handles are ready, and up to
/// [`POLL_MAX`] of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub n: u64,
    pub handles: [u64; POLL_MAX],
}

impl Words for Ready {
    const COUNT: usize = 1 + POLL_MAX;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.n;
        out[1..1 + POLL_MAX].copy_from_slice(&self.handles);
    }
    fn take(words: &[u64]) -> Option<Self> {
        let mut handles = [0u64; POLL_MAX];
        handles.copy_from_slice(words.get(1..1 + POLL_MAX)?);
        Some(Ready {
            n: *words.first()?,
            handles,
        })
    }
}

abi::words! {
    /// Six counters (`stats`, `driver_stats`; see the table above).
    #[derive(Default)]
    pub struct Counters(pub [u64; 6]);
}

abi::errors! {
    /// Why a socket call failed, in plain words. The codes are [`status`]'s.
    pub enum NetError {
        BadHandle = 2 {} => "not a handle of this client, closed, or of the wrong kind",
        BadPort = 3 {} => "port 0 cannot be listened on",
        PortInUse = 4 {} => "another listener has the port",
        TooMany = 5 {} => "too many handles in the network service",
        Reset = 6 {} => "the connection was reset or timed out",
        Closed = 7 {} => "the connection was closed",
        BadLease = 8 {} => "the buffer could not be copied, or a read lent no room",
        NetDown = 9 {} => "the network driver is gone: the network is down",
        Busy = 10 {} => "a call of the same kind is already waiting on this handle",
        WouldBlock = 11 {} => "the call would have waited",
    }
}

abi::interface! {
    /// The network service's sockets; see the table in the crate doc.
    /// `accept`, `read`, `write` and `poll` may wait (deferred replies).
    pub mod sockets {
        fn listen = 1 (port: u16, backlog: u32) -> Result<u64, NetError>;
        fn accept = 2 (listener: u64, flags: u64) -> Result<Accepted, NetError>, deferred;
        fn read = 3 (conn: u64, flags: u64) [0 buf: Write(MAX_IO as u64)]
            -> Result<u64, NetError>, deferred;
        fn write = 4 (conn: u64, flags: u64) [0 data: Read(MAX_IO as u64)]
            -> Result<u64, NetError>, deferred;
        fn close = 5 (handle: u64) -> Result<(), NetError>;
        fn info = 6 () -> Result<Info, NetError>;
        fn poll = 7 (flags: u64, timeout_ms: u64) -> Result<Ready, NetError>, deferred;
        fn stats = 8 () -> Result<Counters, NetError>;
        fn driver_stats = 9 () -> Result<Counters, NetError>;
    }
}

/// Status codes: the codes of [`NetError`] (and `BAD_REQUEST` for a call
/// the dispatch refused), as callers compare them.
pub mod status {
    /// The request's label or fields are not valid (refused by the dispatch).
    pub const BAD_REQUEST: u64 = 1;
    pub const BAD_HANDLE: u64 = 2;
    pub const BAD_PORT: u64 = 3;
    pub const PORT_IN_USE: u64 = 4;
    pub const TOO_MANY: u64 = 5;
    pub const RESET: u64 = 6;
    pub const CLOSED: u64 = 7;
    pub const BAD_LEASE: u64 = 8;
    pub const NET_DOWN: u64 = 9;
    pub const BUSY: u64 = 10;
    pub const WOULD_BLOCK: u64 = 11;

    /// A short name for logs.
    pub fn name(code: u64) -> &'static str {
        match code {
            BAD_REQUEST => "bad request",
            BAD_HANDLE => "bad handle",
            BAD_PORT => "bad port",
            PORT_IN_USE => "port in use",
            TOO_MANY => "too many handles",
            RESET => "connection reset",
            CLOSED => "closed",
            BAD_LEASE => "bad lease",
            NET_DOWN => "network down",
            BUSY => "busy",
            WOULD_BLOCK => "would block",
            _ => "unknown status",
        }
    }
}

/// Flags of `accept`, `read` and `write` (`NONBLOCK`), and of `poll`
/// (`NO_ACCEPT`).
pub mod flags {
    /// Answer `NetError::WouldBlock` instead of waiting.
    pub const NONBLOCK: u64 = 1;
    /// `poll`: do not report listeners (the caller cannot accept now).
    pub const NO_ACCEPT: u64 = 2;
}

/// Handles a `poll` reply names at most.
pub const POLL_MAX: usize = 5;

/// Largest buffer one `read` or `write` lends (1 MiB).
pub const MAX_IO: usize = 1 << 20;

/// The port `make run` forwards from the host (`REGISTRY_PORT`, default 5000).
pub const REGISTRY_PORT: u16 = 5000;

#[cfg(test)]
mod tests {
    use super::*;
    use abi::iface::ServiceError;

    #[test]
    fn error_codes_are_the_status_codes() {
        let pairs = [
            (NetError::BadHandle {}, status::BAD_HANDLE),
            (NetError::BadPort {}, status::BAD_PORT),
            (NetError::PortInUse {}, status::PORT_IN_USE),
            (NetError::TooMany {}, status::TOO_MANY),
            (NetError::Reset {}, status::RESET),
            (NetError::Closed {}, status::CLOSED),
            (NetError::BadLease {}, status::BAD_LEASE),
            (NetError::NetDown {}, status::NET_DOWN),
            (NetError::Busy {}, status::BUSY),
            (NetError::WouldBlock {}, status::WOULD_BLOCK),
        ];
        for (e, code) in pairs {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(NetError::take(code, &[0; abi::MSG_WORDS]), Some(e));
        }
    }

    #[test]
    fn replies_cross_in_their_words() {
        let a = Accepted {
            conn: 1 << 33,
            peer_ip: [10, 0, 2, 2],
            peer_port: 40000,
        };
        let mut w = [0u64; 3];
        a.put(&mut w);
        assert_eq!(w[1], 0x0a00_0202);
        assert_eq!(Accepted::take(&w), Some(a));
        // A port beyond u16 does not decode.
        w[2] = 70000;
        assert_eq!(Accepted::take(&w), None);
        let r = Ready {
            n: 7,
            handles: [1, 2, 3, 4, 5],
        };
        let mut w = [0u64; 6];
        r.put(&mut w);
        assert_eq!(Ready::take(&w), Some(r));
    }
}
