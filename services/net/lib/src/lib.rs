//! The network service's logic, host-tested: TCP/IP with smoltcp over a
//! frame queue ([`device::QueueDevice`]) and the socket table the service
//! offers its clients ([`Stack`]: listen, accept, read, write, close).
//!
//! Design principles:
//! - No I/O and no clock of its own: the server pushes received frames in,
//!   takes frames to send out, and passes the time to `poll`; so two stacks
//!   can be wired back to back in a host test.
//! - Never blocks: each operation either completes or says "would block"
//!   (`Ok(None)`); the server keeps the caller's reply token and retries
//!   after the next poll (a deferred reply), so a waiting client costs
//!   nothing until its socket can move.
//! - Handles are per client: a handle names its owner (the badge the kernel
//!   vouches for), and a handle of another client, a stale handle (a
//!   generation count) or a handle of the wrong kind is `BadHandle`.
//! - Bounded memory: `MAX_HANDLES` handles, `MAX_BACKLOG` pending
//!   connections per listener, `RX_BUFFER` + `TX_BUFFER` bytes per socket.
//!
//! Buffer sizes, chosen for throughput: each TCP socket has a 128 KiB
//! receive and a 128 KiB send buffer, so the advertised window is up to
//! 128 KiB (window scaling, shift 2) — more than the bandwidth-delay product
//! of QEMU's user network (sub-millisecond round trips), so the window never
//! limits a transfer; the frame path is the limit. Delayed ACKs are off (the
//! stack acknowledges once per poll, i.e. per batch of received frames), and
//! Nagle is off so small echoes are not held back.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod checksum;
pub mod device;
mod stack;

pub use smoltcp;
pub use stack::{Config, Handle, Remote, SockError, Stack, StackStats};

/// Per socket receive buffer (the largest advertised window).
pub const RX_BUFFER: usize = 128 * 1024;
/// Per socket send buffer.
pub const TX_BUFFER: usize = 128 * 1024;
/// Pending (accepted by TCP, not yet by the client) connections per listener.
pub const MAX_BACKLOG: usize = 16;
/// Listeners and connections of all clients together.
pub const MAX_HANDLES: usize = 256;
/// A closed connection whose peer stops answering is dropped after this.
pub const CLOSE_TIMEOUT_MS: u64 = 30_000;
