//! The client: blocking socket calls to the network service.

use crate::{flags, status, Request, POLL_MAX};
use abi::proto::Wire;
use abi::Message;
use userlib::ipc::{lend, lend_mut, Endpoint};

/// Why a call failed: the kernel's error (the service died: `PeerDead`) or
/// a `status` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    Kernel(abi::Error),
    Status(u64),
}

impl core::fmt::Display for SocketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SocketError::Kernel(e) => write!(f, "kernel error {e:?}"),
            SocketError::Status(s) => write!(f, "{} (status {s})", status::name(*s)),
        }
    }
}

/// A connection to the network service.
#[derive(Clone, Copy)]
pub struct Net {
    endpoint: Endpoint,
}

/// An accepted connection: its handle and the peer.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    pub conn: u64,
    pub peer_ip: [u8; 4],
    pub peer_port: u16,
}

impl Net {
    pub fn new(endpoint: Endpoint) -> Self {
        Net { endpoint }
    }

    fn call(&self, request: &Request, leases: &[abi::Lease]) -> Result<[u64; 6], SocketError> {
        let mut msg = request.to_message();
        msg.leases[..leases.len()].copy_from_slice(leases);
        let mut reply = Message::default();
        userlib::sys::call(self.endpoint.0, &msg, &mut reply).map_err(SocketError::Kernel)?;
        match reply.label {
            0 => Ok(reply.words),
            s => Err(SocketError::Status(s)),
        }
    }

    /// Listens on `port`; returns the listener handle.
    pub fn listen(&self, port: u16, backlog: u32) -> Result<u64, SocketError> {
        Ok(self.call(&Request::Listen { port, backlog }, &[])?[0])
    }

    /// Waits for the next connection on `listener`.
    pub fn accept(&self, listener: u64) -> Result<Accepted, SocketError> {
        self.accept_with(listener, 0)
    }

    /// `accept` with `flags` (`flags::NONBLOCK`).
    pub fn accept_with(&self, listener: u64, flags: u64) -> Result<Accepted, SocketError> {
        let w = self.call(&Request::Accept { listener, flags }, &[])?;
        Ok(Accepted {
            conn: w[0],
            peer_ip: (w[1] as u32).to_be_bytes(),
            peer_port: w[2] as u16,
        })
    }

    /// Waits for data; returns the bytes read (0 = end of stream).
    pub fn read(&self, conn: u64, buf: &mut [u8]) -> Result<usize, SocketError> {
        self.read_with(conn, buf, 0)
    }

    /// `read` with `flags` (`flags::NONBLOCK`).
    pub fn read_with(&self, conn: u64, buf: &mut [u8], flags: u64) -> Result<usize, SocketError> {
        Ok(self.call(&Request::Read { conn, flags }, &[lend_mut(buf)])?[0] as usize)
    }

    /// Waits for room; returns the bytes accepted (at least one).
    pub fn write(&self, conn: u64, data: &[u8]) -> Result<usize, SocketError> {
        self.write_with(conn, data, 0)
    }

    /// `write` with `flags` (`flags::NONBLOCK`).
    pub fn write_with(&self, conn: u64, data: &[u8], flags: u64) -> Result<usize, SocketError> {
        Ok(self.call(&Request::Write { conn, flags }, &[lend(data)])?[0] as usize)
    }

    /// Writes all of `data`.
    pub fn write_all(&self, conn: u64, mut data: &[u8]) -> Result<(), SocketError> {
        while !data.is_empty() {
            let n = self.write(conn, data)?;
            data = &data[n.min(data.len())..];
        }
        Ok(())
    }

    pub fn close(&self, handle: u64) -> Result<(), SocketError> {
        self.call(&Request::Close { handle }, &[]).map(|_| ())
    }

    /// The service's counters (see the crate documentation).
    pub fn stats(&self) -> Result<[u64; 6], SocketError> {
        self.call(&Request::Stats {}, &[])
    }

    /// The virtio-net driver's counters, through the service.
    pub fn driver_stats(&self) -> Result<[u64; 6], SocketError> {
        self.call(&Request::DriverStats {}, &[])
    }

    /// Waits until one of this client's handles is ready; fills `ready`
    /// with up to `POLL_MAX` of them and returns how many it filled.
    pub fn poll(&self, ready: &mut [u64; POLL_MAX]) -> Result<usize, SocketError> {
        let w = self.call(&Request::Poll {}, &[])?;
        let n = (w[0] as usize).min(POLL_MAX);
        ready[..n].copy_from_slice(&w[1..1 + n]);
        Ok(n)
    }

    /// True if `e` is `WOULD_BLOCK` (a `NONBLOCK` call that would wait).
    pub fn would_block(e: &SocketError) -> bool {
        *e == SocketError::Status(status::WOULD_BLOCK)
    }

    /// Flags for the `*_with` calls.
    pub const NONBLOCK: u64 = flags::NONBLOCK;

    /// (IPv4 address, MAC word, listeners, connections, frames in, frames out).
    pub fn info(&self) -> Result<[u64; 6], SocketError> {
        self.call(&Request::Info {}, &[])
    }
}
