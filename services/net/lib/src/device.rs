//! smoltcp's `Device` over two frame queues: the server fills `rx` with
//! frames fetched from the driver and drains `tx` into `Send` batches after
//! each poll. No frame is lost here: when `tx` is full the stack is told the
//! device is busy and keeps the data in its socket buffers.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frames the stack may queue for transmission before a drain.
pub const TX_QUEUE: usize = 128;
/// Largest frame (Ethernet header + 1500-byte MTU).
pub const MAX_FRAME: usize = 1514;

#[derive(Default)]
pub struct QueueDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
}

pub struct Rx(Vec<u8>);

pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = alloc::vec![0u8; len];
        let r = f(&mut frame);
        self.0.push_back(frame);
        r
    }
}

impl phy::Device for QueueDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        if self.tx.len() >= TX_QUEUE {
            return None;
        }
        let frame = self.rx.pop_front()?;
        Some((Rx(frame), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        (self.tx.len() < TX_QUEUE).then_some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // Received IPv4 headers and TCP segments are verified before they
        // are queued (`Stack::push_frame`, `checksum.rs`): smoltcp only
        // computes them when sending.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps
    }
}
