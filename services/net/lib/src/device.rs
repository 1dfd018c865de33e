//! smoltcp's `Device` over two frame queues: the server fills `rx` with
//! frames fetched from the driver and drains `tx` into `Send` batches after
//! each poll. No frame is lost here: when `tx` is full the stack is told the
//! device is busy and keeps the data in its socket buffers.
//!
//! Frame buffers are recycled (`spare`): a received frame's buffer goes
//! back once smoltcp consumed it, a sent one once the server copied it into
//! a batch, so a frame costs no allocation (linked-list heap) in the
//! steady state.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frames the stack may queue for transmission before a drain.
pub const TX_QUEUE: usize = 128;
/// Largest frame (Ethernet header + 1500-byte MTU).
pub const MAX_FRAME: usize = 1514;

/// Frame buffers kept for reuse at most (more are freed).
pub const SPARE: usize = 512;

#[derive(Default)]
pub struct QueueDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
    /// Empty frame buffers (capacity kept) for the next frames.
    spare: Vec<Vec<u8>>,
}

impl QueueDevice {
    /// A copy of `frame` in a recycled buffer, queued for the stack.
    pub fn push_rx(&mut self, frame: &[u8]) {
        let mut v = self.spare.pop().unwrap_or_default();
        v.extend_from_slice(frame);
        self.rx.push_back(v);
    }

    /// Takes back a frame buffer that is no longer needed.
    pub fn recycle(&mut self, mut frame: Vec<u8>) {
        recycle(&mut self.spare, &mut frame);
    }
}

fn recycle(spare: &mut Vec<Vec<u8>>, frame: &mut Vec<u8>) {
    if spare.len() < SPARE && frame.capacity() >= MAX_FRAME {
        frame.clear();
        spare.push(core::mem::take(frame));
    }
}

pub struct Rx<'a> {
    frame: Vec<u8>,
    spare: &'a mut Vec<Vec<u8>>,
}

pub struct Tx<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    /// `None` for the token paired with a received frame (whose `Rx` holds
    /// the spares; smoltcp rarely answers a segment at once): allocates.
    spare: Option<&'a mut Vec<Vec<u8>>>,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(mut self, f: F) -> R {
        let r = f(&self.frame);
        recycle(self.spare, &mut self.frame);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.and_then(|s| s.pop()).unwrap_or_default();
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.queue.push_back(frame);
        r
    }
}

impl phy::Device for QueueDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        if self.tx.len() >= TX_QUEUE {
            return None;
        }
        let frame = self.rx.pop_front()?;
        Some((
            Rx {
                frame,
                spare: &mut self.spare,
            },
            Tx {
                queue: &mut self.tx,
                spare: None,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        (self.tx.len() < TX_QUEUE).then_some(Tx {
            queue: &mut self.tx,
            spare: Some(&mut self.spare),
        })
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
