//! The client: calls to the driver through the `frames` stubs. Generic over
//! the transport, so it runs on the host against a fake.

use abi::iface::{CallError, ServiceError, Transport};

use crate::{frames, mac_from_word, status, DriverError, MAX_BATCH_BYTES};

/// Why a call failed: the kernel's error (the driver died: `PeerDead`) or
/// the driver's status with its values (a [`DriverError`]'s code and
/// words; `BAD_REQUEST` and the refused label for a call the dispatch
/// refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    Kernel(abi::Error),
    Status(u64, [u64; 2]),
}

impl From<CallError<DriverError>> for NetError {
    fn from(e: CallError<DriverError>) -> Self {
        match e {
            CallError::Service(e) => {
                let mut w = [0u64; abi::MSG_WORDS];
                e.put(&mut w);
                NetError::Status(e.code(), [w[0], w[1]])
            }
            CallError::Refused(r) => {
                let msg = r.to_message();
                NetError::Status(status::BAD_REQUEST, [msg.label, msg.words[0]])
            }
            CallError::Kernel(k) => NetError::Kernel(k),
        }
    }
}

/// The device behind the driver.
#[derive(Clone, Copy, Debug)]
pub struct Info {
    pub mac: [u8; 6],
    pub max_frame: u64,
    pub rx_buffers: u64,
    pub tx_buffers: u64,
}

/// The transport `NetClient` uses unless told otherwise: the IPC endpoint
/// (the host has none; tests name their fake).
#[cfg(target_os = "none")]
pub type DefaultTransport = userlib::ipc::Endpoint;
#[cfg(not(target_os = "none"))]
pub type DefaultTransport = ();

/// A connection to the virtio-net driver.
pub struct NetClient<T = DefaultTransport> {
    stub: frames::Client<T>,
}

impl<T: Transport> NetClient<T> {
    pub fn new(transport: T) -> Self {
        NetClient {
            stub: frames::Client::new(transport),
        }
    }

    pub fn info(&self) -> Result<Info, NetError> {
        let i = self.stub.info()?;
        Ok(Info {
            mac: mac_from_word(i.mac),
            max_frame: i.max_frame,
            rx_buffers: i.rx_buffers,
            tx_buffers: i.tx_buffers,
        })
    }

    /// Queues the `frames` records of `batch` (at most `MAX_BATCH_BYTES`)
    /// for transmission.
    pub fn send(&self, batch: &[u8], frames: usize) -> Result<(), NetError> {
        self.stub.send(frames as u64, batch)?;
        Ok(())
    }

    /// Fetches waiting frames into `buf` (at most `MAX_BATCH_BYTES` of it):
    /// (frames, bytes, frames still waiting).
    pub fn receive(&self, buf: &mut [u8]) -> Result<(usize, usize, usize), NetError> {
        let n = buf.len().min(MAX_BATCH_BYTES);
        let r = self.stub.receive(&mut buf[..n])?;
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok((size(r.frames), size(r.bytes).min(n), size(r.waiting)))
    }

    /// The driver's counters (see the crate documentation).
    pub fn stats(&self) -> Result<[u64; 6], NetError> {
        Ok(self.stub.stats()?.0)
    }
}
