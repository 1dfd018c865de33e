//! The frame protocol of the virtio-net driver (`virtio-net-server`, binary
//! `virtio-net`) and its client, [`NetClient`].
//!
//! Design principles:
//! - Frames never travel in message words: a batch of frames is one lease in
//!   the batch format of [`batch`] (`[length: u16 LE][frame]` records, packed),
//!   so one call moves many frames in either direction.
//! - The driver never calls its client: when frames arrive while none are
//!   waiting to be fetched it sets the client's notification bits (the
//!   `notify=` capability of its boot configuration, slot 0), and the client
//!   fetches with `Receive` until a call returns no frame. Frames the client
//!   has not fetched keep their receive buffers, so a slow client pushes back
//!   on the device (QEMU queues the packets) instead of losing them.
//! - A `Send` is answered once every frame of it is on the device's transmit
//!   queue (a deferred reply while the queue is full); the frames' bytes have
//!   been copied by then, so the caller may reuse its buffer.
//! - Every failure is a status code (`status`); nothing here panics on what a
//!   peer sends.
//!
//! # Requests (`Request`, label = operation)
//!
//! | request | words | leases | reply words |
//! |---|---|---|---|
//! | `Info` | — | — | MAC address (6 bytes, first byte in the top of the low 48 bits), largest frame, receive buffers, transmit buffers |
//! | `Send` | frames | 0: batch, READ, ≤ `MAX_BATCH_BYTES` | frames queued |
//! | `Receive` | — | 0: buffer, WRITE | frames, bytes, frames still waiting |
//! | `Stats` | — | — | frames received, frames sent, interrupts, most received frames waiting at once, most transmit buffers on the device at once, `Send` calls |
#![cfg_attr(not(test), no_std)]

pub mod batch;
#[cfg(target_os = "none")]
mod client;
#[cfg(target_os = "none")]
pub use client::{Info, NetClient, NetError};

/// Largest Ethernet frame without its FCS (no VLAN tag): 14 + 1500.
pub const MAX_FRAME: usize = 1514;
/// Smallest frame the driver sends: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Largest batch lease the driver reads for one `Send`.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

abi::protocol! {
    /// A request to the driver; see the table in the crate documentation.
    pub enum Request {
        Info = 1 {},
        Send = 2 { frames: u64 },
        Receive = 3 {},
        Stats = 4 {},
    }
}

/// Status codes: the label of an error reply.
pub mod status {
    /// The request's label or fields are not valid.
    pub const BAD_REQUEST: u64 = 1;
    /// The batch is malformed: a record runs past the lease or the
    /// announced count, or a frame is shorter than `MIN_FRAME` or longer
    /// than `MAX_FRAME` (reply words: index of the bad record, its length).
    pub const BAD_BATCH: u64 = 2;
    /// The kernel refused a lease copy.
    pub const BAD_LEASE: u64 = 3;
    /// The device refused a transmit (reply word: frames queued before it).
    pub const DEVICE: u64 = 4;
    /// The driver found no virtio-net device among the PCI functions it
    /// was granted (QEMU started without one); every call gets this.
    pub const NO_DEVICE: u64 = 5;
}

/// The MAC address in the `Info` reply word: byte 0 in bits 40..48.
pub fn mac_from_word(w: u64) -> [u8; 6] {
    let b = w.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The inverse of [`mac_from_word`].
pub fn mac_to_word(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&mac);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::proto::Wire;

    #[test]
    fn mac_round_trips_through_a_word() {
        let mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        assert_eq!(mac_to_word(mac), 0x5254_0012_3456);
        assert_eq!(mac_from_word(mac_to_word(mac)), mac);
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Info {},
            Request::Send { frames: 7 },
            Request::Receive {},
            Request::Stats {},
        ] {
            assert_eq!(Request::decode(&r.to_message()), Ok(r));
        }
    }
}
