//! The frame interface of the virtio-net driver (`virtio-net-server`, binary
//! `virtio-net`), declared once ([`frames`]: client stubs, the server's
//! trait and dispatch, typed errors [`DriverError`]), and its client,
//! [`NetClient`] (generic over its transport).
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
//! - Every failure is a [`DriverError`] with its values in the same reply
//!   (its code is the [`status`] value); a malformed call is refused by the
//!   generated dispatch. Nothing here panics on what a peer sends.
//!
//! # Operations (label = operation)
//!
//! | request | words | leases | reply words |
//! |---|---|---|---|
//! | `Info` | — | — | MAC address (6 bytes, first byte in the top of the low 48 bits), largest frame, receive buffers, transmit buffers |
//! | `Send` | frames | 0: batch, READ, ≤ `MAX_BATCH_BYTES` | frames queued |
//! | `Receive` | — | 0: buffer, WRITE, ≤ `MAX_BATCH_BYTES` | frames, bytes, frames still waiting |
//! | `Stats` | — | — | frames received, frames sent, interrupts, most received frames waiting at once, queue notifications (MMIO writes to the device), most transmit buffers on the device at once, `Send` calls |
#![cfg_attr(not(test), no_std)]

pub mod batch;
mod client;
pub use client::{Info, NetClient, NetError};

/// Largest Ethernet frame without its FCS (no VLAN tag): 14 + 1500.
pub const MAX_FRAME: usize = 1514;
/// Smallest frame the driver sends: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Largest batch lease the driver reads for one `Send`.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

abi::words! {
    /// What `info` answers.
    pub struct InfoWords {
        /// MAC address (see [`mac_to_word`]).
        pub mac: u64,
        pub max_frame: u64,
        pub rx_buffers: u64,
        pub tx_buffers: u64,
    }
}

abi::words! {
    /// What `receive` answers.
    pub struct Received {
        pub frames: u64,
        pub bytes: u64,
        /// Frames still waiting in the driver.
        pub waiting: u64,
    }
}

abi::words! {
    /// The driver's six counters (see the table above).
    #[derive(Default)]
    pub struct Counters(pub [u64; 6]);
}

abi::errors! {
    /// Why a driver call failed, with its values. The codes are [`status`]'s.
    pub enum DriverError {
        BadBatch = 2 { record: u64, len: u64 }
            => "record {record} of the batch is malformed (length {len})",
        BadLease = 3 { frames: u64 }
            => "the caller's buffer could not be copied ({frames} received frames lost)",
        Device = 4 { queued: u64 }
            => "the device refused a transmit after {queued} frames were queued",
        NoDevice = 5 {} => "no virtio-net device (QEMU started without one)",
    }
}

abi::interface! {
    /// The driver; see the table in the crate documentation.
    pub mod frames {
        fn info = 1 () -> Result<InfoWords, DriverError>;
        /// Answered once every frame is on the transmit queue.
        fn send = 2 (count: u64) [0 batch: Read(MAX_BATCH_BYTES as u64)]
            -> Result<u64, DriverError>, deferred;
        fn receive = 3 () [0 buf: Write(MAX_BATCH_BYTES as u64)] -> Result<Received, DriverError>;
        fn stats = 4 () -> Result<Counters, DriverError>;
    }
}

/// Status codes: the codes of [`DriverError`] (and `BAD_REQUEST` for a
/// call the dispatch refused).
pub mod status {
    /// The request's label or fields are not valid (refused by the dispatch).
    pub const BAD_REQUEST: u64 = 1;
    /// The batch is malformed: a record runs past the lease or the
    /// announced count, or a frame is shorter than `MIN_FRAME` or longer
    /// than `MAX_FRAME` (values: index of the bad record, its length).
    pub const BAD_BATCH: u64 = 2;
    /// The kernel refused a lease copy.
    pub const BAD_LEASE: u64 = 3;
    /// The device refused a transmit (value: frames queued before it).
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

    #[test]
    fn mac_round_trips_through_a_word() {
        let mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        assert_eq!(mac_to_word(mac), 0x5254_0012_3456);
        assert_eq!(mac_from_word(mac_to_word(mac)), mac);
    }

    #[test]
    fn error_codes_are_the_status_codes() {
        use abi::iface::ServiceError;
        let e = DriverError::BadBatch { record: 3, len: 9 };
        assert_eq!(e.code(), status::BAD_BATCH);
        let mut w = [0u64; abi::MSG_WORDS];
        e.put(&mut w);
        assert_eq!(w[..2], [3, 9]);
        assert_eq!(DriverError::NoDevice {}.code(), status::NO_DEVICE);
        assert_eq!(DriverError::Device { queued: 1 }.code(), status::DEVICE);
        assert_eq!(
            DriverError::BadLease { frames: 1 }.code(),
            status::BAD_LEASE
        );
    }
}
