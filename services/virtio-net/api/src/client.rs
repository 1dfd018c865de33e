//! The client: calls to the driver through an endpoint capability.

use crate::{mac_from_word, Request};
use abi::proto::Wire;
use abi::Message;
use userlib::ipc::{lend, lend_mut, Endpoint};

/// Why a call failed: the kernel's error (the driver died: `PeerDead`) or
/// the driver's status with its reply words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    Kernel(abi::Error),
    Status(u64, [u64; 2]),
}

/// The device behind the driver.
#[derive(Clone, Copy, Debug)]
pub struct Info {
    pub mac: [u8; 6],
    pub max_frame: u64,
    pub rx_buffers: u64,
    pub tx_buffers: u64,
}

/// A connection to the virtio-net driver.
pub struct NetClient {
    endpoint: Endpoint,
}

impl NetClient {
    pub fn new(endpoint: Endpoint) -> Self {
        NetClient { endpoint }
    }

    fn call(&self, request: &Request, leases: &[abi::Lease]) -> Result<[u64; 6], NetError> {
        let mut msg = request.to_message();
        msg.leases[..leases.len()].copy_from_slice(leases);
        let mut reply = Message::default();
        userlib::sys::call(self.endpoint.0, &msg, &mut reply).map_err(NetError::Kernel)?;
        match reply.label {
            0 => Ok(reply.words),
            s => Err(NetError::Status(s, [reply.words[0], reply.words[1]])),
        }
    }

    pub fn info(&self) -> Result<Info, NetError> {
        let w = self.call(&Request::Info {}, &[])?;
        Ok(Info {
            mac: mac_from_word(w[0]),
            max_frame: w[1],
            rx_buffers: w[2],
            tx_buffers: w[3],
        })
    }

    /// Queues the `frames` records of `batch` for transmission.
    pub fn send(&self, batch: &[u8], frames: usize) -> Result<(), NetError> {
        self.call(
            &Request::Send {
                frames: frames as u64,
            },
            &[lend(batch)],
        )
        .map(|_| ())
    }

    /// Fetches waiting frames into `buf`: (frames, bytes, frames still waiting).
    pub fn receive(&self, buf: &mut [u8]) -> Result<(usize, usize, usize), NetError> {
        let w = self.call(&Request::Receive {}, &[lend_mut(buf)])?;
        Ok((w[0] as usize, w[1] as usize, w[2] as usize))
    }

    /// The driver's counters (see the crate documentation).
    pub fn stats(&self) -> Result<[u64; 6], NetError> {
        self.call(&Request::Stats {}, &[])
    }
}
