//! The client: blocking socket calls through the `sockets` stubs. Generic
//! over the transport, so it runs on the host against a fake.

use abi::iface::{CallError, Refused, ServiceError, Transport};

use crate::{flags, sockets, status, Accepted, NetError, MAX_IO, POLL_MAX};

/// Why a call failed: the kernel's error (the service died: `PeerDead`) or
/// a `status` code (a [`NetError`]'s, or `BAD_REQUEST` / `BAD_LEASE` for a
/// call the service's dispatch refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    Kernel(abi::Error),
    Status(u64),
}

impl From<CallError<NetError>> for SocketError {
    fn from(e: CallError<NetError>) -> Self {
        match e {
            CallError::Service(e) => SocketError::Status(e.code()),
            CallError::Refused(
                Refused::MissingLease { .. }
                | Refused::LeaseTooLong { .. }
                | Refused::LeaseNotPermitted { .. },
            ) => SocketError::Status(status::BAD_LEASE),
            CallError::Refused(_) => SocketError::Status(status::BAD_REQUEST),
            CallError::Kernel(k) => SocketError::Kernel(k),
        }
    }
}

impl core::fmt::Display for SocketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SocketError::Kernel(e) => write!(f, "kernel error {e:?}"),
            SocketError::Status(s) => write!(f, "{} (status {s})", status::name(*s)),
        }
    }
}

/// The transport `Net` uses unless told otherwise: the IPC endpoint (the
/// host has none; tests name their fake).
#[cfg(target_os = "none")]
pub type DefaultTransport = userlib::ipc::Endpoint;
#[cfg(not(target_os = "none"))]
pub type DefaultTransport = ();

/// A connection to the network service.
#[derive(Clone, Copy)]
pub struct Net<T = DefaultTransport> {
    stub: sockets::Client<T>,
}

/// Named as `Net::NONBLOCK`, `Net::would_block` (on the default transport,
/// so the path needs no type).
impl Net<DefaultTransport> {
    /// True if `e` is `WOULD_BLOCK` (a `NONBLOCK` call that would wait).
    pub fn would_block(e: &SocketError) -> bool {
        *e == SocketError::Status(status::WOULD_BLOCK)
    }

    /// Flags for the `*_with` calls.
    pub const NONBLOCK: u64 = flags::NONBLOCK;

    /// `poll_with`'s flag: listeners are not reported.
    pub const NO_ACCEPT: u64 = flags::NO_ACCEPT;
}

impl<T: Transport> Net<T> {
    pub fn new(transport: T) -> Self {
        Net {
            stub: sockets::Client::new(transport),
        }
    }

    /// Listens on `port`; returns the listener handle.
    pub fn listen(&self, port: u16, backlog: u32) -> Result<u64, SocketError> {
        Ok(self.stub.listen(port, backlog)?)
    }

    /// Waits for the next connection on `listener`.
    pub fn accept(&self, listener: u64) -> Result<Accepted, SocketError> {
        self.accept_with(listener, 0)
    }

    /// `accept` with `flags` (`flags::NONBLOCK`).
    pub fn accept_with(&self, listener: u64, flags: u64) -> Result<Accepted, SocketError> {
        Ok(self.stub.accept(listener, flags)?)
    }

    /// Waits for data; returns the bytes read (0 = end of stream).
    pub fn read(&self, conn: u64, buf: &mut [u8]) -> Result<usize, SocketError> {
        self.read_with(conn, buf, 0)
    }

    /// `read` with `flags` (`flags::NONBLOCK`). At most `MAX_IO` bytes.
    pub fn read_with(&self, conn: u64, buf: &mut [u8], flags: u64) -> Result<usize, SocketError> {
        let n = buf.len().min(MAX_IO);
        let got = self.stub.read(conn, flags, &mut buf[..n])?;
        Ok(usize::try_from(got).unwrap_or(0).min(n))
    }

    /// Waits for room; returns the bytes accepted (at least one).
    pub fn write(&self, conn: u64, data: &[u8]) -> Result<usize, SocketError> {
        self.write_with(conn, data, 0)
    }

    /// `write` with `flags` (`flags::NONBLOCK`). At most `MAX_IO` bytes;
    /// nothing to write is written at once (no call).
    pub fn write_with(&self, conn: u64, data: &[u8], flags: u64) -> Result<usize, SocketError> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(MAX_IO);
        let put = self.stub.write(conn, flags, &data[..n])?;
        Ok(usize::try_from(put).unwrap_or(0).min(n))
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
        Ok(self.stub.close(handle)?)
    }

    /// The service's counters (see the crate documentation).
    pub fn stats(&self) -> Result<[u64; 6], SocketError> {
        Ok(self.stub.stats()?.0)
    }

    /// The virtio-net driver's counters, through the service.
    pub fn driver_stats(&self) -> Result<[u64; 6], SocketError> {
        Ok(self.stub.driver_stats()?.0)
    }

    /// Waits until one of this client's handles is ready; fills `ready`
    /// with up to `POLL_MAX` of them and returns how many it filled.
    pub fn poll(&self, ready: &mut [u64; POLL_MAX]) -> Result<usize, SocketError> {
        self.poll_with(ready, 0, 0)
    }

    /// `poll` with `flags` (`flags::NO_ACCEPT`: listeners are not
    /// reported) and a timeout in milliseconds (0: none); 0 handles when
    /// the timeout passed with none ready.
    pub fn poll_with(
        &self,
        ready: &mut [u64; POLL_MAX],
        flags: u64,
        timeout_ms: u64,
    ) -> Result<usize, SocketError> {
        let r = self.stub.poll(flags, timeout_ms)?;
        let n = usize::try_from(r.n).unwrap_or(POLL_MAX).min(POLL_MAX);
        ready[..n].copy_from_slice(&r.handles[..n]);
        Ok(n)
    }

    /// (IPv4 address, MAC word, listeners, connections, frames in, frames out).
    pub fn info(&self) -> Result<[u64; 6], SocketError> {
        let i = self.stub.info()?;
        Ok([
            u64::from(i.ip),
            i.mac,
            i.listeners,
            i.connections,
            i.frames_in,
            i.frames_out,
        ])
    }
}
