//! The network service's socket protocol (`net-server`, binary `net`) and
//! its client, [`Net`].
//!
//! Design principles:
//! - A few blocking calls, like BSD sockets without `select`: `Accept`,
//!   `Read` and `Write` are answered when they can make progress (the
//!   service keeps the reply token: a deferred reply), so a client never
//!   polls. Many connections at once, from one or several clients.
//! - Data travels in leases only: `Read` lends the caller's buffer for
//!   writing, `Write` lends the data for reading; the service copies straight
//!   between the lease and the TCP socket buffers.
//! - Handles are per client (the badge of its endpoint): a handle of another
//!   client is `BAD_HANDLE`.
//! - One waiting call per handle and direction: a second `Read` on a
//!   connection that already has one waiting is `BUSY`; one `Poll` per client.
//!
//! # Requests (`Request`, label = operation)
//!
//! | request | words | leases | reply words | waits |
//! |---|---|---|---|---|
//! | `Listen` | port, backlog (1..=16) | — | listener handle | no |
//! | `Accept` | listener | — | connection handle, peer IPv4 (u32, big-endian order), peer port | until a connection arrives |
//! | `Read` | connection | 0: buffer, WRITE | bytes (0 = end of stream) | until data or end of stream |
//! | `Write` | connection | 0: data, READ | bytes accepted (≥ 1 unless the lease is empty) | while the send buffer is full |
//! | `Close` | handle | — | — | no |
//! | `Info` | — | — | IPv4 address, MAC (as in virtio-net-api), listeners, connections, frames received, frames sent |
//! | `Poll` | — | — | n, then up to `POLL_MAX` ready handles | until one of the caller's handles is ready |
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
//! calls with `NONBLOCK`.
//!
//! `Write` accepts what fits in the socket's send buffer now (128 KiB per
//! connection); `Net::write_all` loops. `Close` of a connection sends FIN
//! after the data already written; a waiting `Read` or `Write` on it is
//! answered `CLOSED`. Errors are `status` codes in the reply label.
#![cfg_attr(not(test), no_std)]

#[cfg(target_os = "none")]
mod client;
#[cfg(target_os = "none")]
pub use client::{Accepted, Net, SocketError};

abi::protocol! {
    /// A request to the network service; see the table in the crate documentation.
    pub enum Request {
        Listen = 1 { port: u16, backlog: u32 },
        Accept = 2 { listener: u64, flags: u64 },
        Read = 3 { conn: u64, flags: u64 },
        Write = 4 { conn: u64, flags: u64 },
        Close = 5 { handle: u64 },
        Info = 6 {},
        Poll = 7 {},
        Stats = 8 {},
        DriverStats = 9 {},
    }
}

/// Status codes: the label of an error reply.
pub mod status {
    /// The request's label or fields are not valid.
    pub const BAD_REQUEST: u64 = 1;
    /// Not a handle of this client, closed, or of the wrong kind.
    pub const BAD_HANDLE: u64 = 2;
    /// Port 0.
    pub const BAD_PORT: u64 = 3;
    /// Another listener has the port.
    pub const PORT_IN_USE: u64 = 4;
    /// Too many handles in the service.
    pub const TOO_MANY: u64 = 5;
    /// The connection was reset or timed out.
    pub const RESET: u64 = 6;
    /// The connection was closed (by this client, or for sending).
    pub const CLOSED: u64 = 7;
    /// The kernel refused a lease copy, or a `Read` lent no room.
    pub const BAD_LEASE: u64 = 8;
    /// The network driver is gone: nothing moves any more.
    pub const NET_DOWN: u64 = 9;
    /// A call of the same kind is already waiting on this handle.
    pub const BUSY: u64 = 10;
    /// `flags::NONBLOCK` and the call would have waited.
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

/// Flags of `Accept`, `Read` and `Write`.
pub mod flags {
    /// Answer `status::WOULD_BLOCK` instead of waiting.
    pub const NONBLOCK: u64 = 1;
}

/// Handles a `Poll` reply names at most (words 1..6).
pub const POLL_MAX: usize = 5;

/// The port `make run` forwards from the host (`REGISTRY_PORT`, default 5000).
pub const REGISTRY_PORT: u16 = 5000;

#[cfg(test)]
mod tests {
    use super::*;
    use abi::proto::Wire;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Listen {
                port: 5000,
                backlog: 8,
            },
            Request::Accept {
                listener: 1 << 32,
                flags: flags::NONBLOCK,
            },
            Request::Read { conn: 3, flags: 0 },
            Request::Write { conn: 4, flags: 0 },
            Request::Close { handle: 5 },
            Request::Info {},
            Request::Poll {},
            Request::Stats {},
            Request::DriverStats {},
        ] {
            assert_eq!(Request::decode(&r.to_message()), Ok(r));
        }
    }

    #[test]
    fn a_port_beyond_u16_is_refused() {
        let mut m = Request::Listen {
            port: 1,
            backlog: 1,
        }
        .to_message();
        m.words[0] = 70000;
        assert!(Request::decode(&m).is_err());
    }
}
