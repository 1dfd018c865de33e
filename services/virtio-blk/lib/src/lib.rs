//! The virtio-blk driver's request layer, apart from the process and the
//! hardware: client requests become jobs, jobs are split into pieces of at
//! most a chunk, pieces are started on the device's free request slots,
//! completions are matched back to their jobs, and each job is answered
//! once. The driver (`virtio-blk-server`) supplies the device and the
//! client side through the [`Device`] trait; the tests supply a fake.
//!
//! Design principles:
//! - Simple and clear over clever: a queue of jobs in arrival order, a
//!   linear slot table, no priorities.
//! - Fair turn-taking: a job that has more pieces after one started goes to
//!   the back of the queue, so jobs take free slots in turn and a small
//!   request does not wait for every piece of a large one.
//! - Everything a client sends is checked (`virtio_blk_api::check`) before
//!   it becomes a job; a refusal is answered at once with the values seen.
//! - The device and the client's memory sit behind one small trait, so the
//!   whole layer runs on the host against a fake device.
//!
//! # Invariants
//! - A job is in the queue while it has pieces not yet started; it is
//!   answered exactly once, when it has no piece left to start and none in
//!   flight (a FUA write first goes back to the queue with a flush piece,
//!   so that flush starts only after every write piece completed).
//! - Once a job has an error no new piece of it starts; pieces in flight
//!   finish (their slots are the device's until then) before the reply.
//! - A slot holds at most one piece, from a successful `Device::start` to
//!   its `Scheduler::complete`.
#![no_std]

extern crate alloc;

mod sched;

pub use sched::{Counters, Scheduler};
pub use virtio_blk_api::check::Refusal;

/// What a device request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Flush,
}

/// One device request's worth of a job: at most a chunk of blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub op: Op,
    pub first: u64,
    pub blocks: u64,
    /// Which lease of the caller holds the data, and where in it.
    pub lease: u64,
    pub offset: u64,
    /// Batch entry index (0 for plain requests), for error replies.
    pub entry: u64,
}

/// Why a piece failed to start or completed badly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The device answered with status IOERR (or an unknown status).
    Io(u8),
    /// The device does not support the request.
    Unsupported,
    /// The queue refused the request.
    Queue,
    /// The client's lease could not be copied (the kernel refused).
    BadLease,
}

impl Failure {
    /// The status code a client sees (`virtio_blk_api::status`).
    pub fn status(self) -> u64 {
        use virtio_blk_api::status;
        match self {
            Failure::Unsupported => status::UNSUPPORTED,
            Failure::Io(_) | Failure::Queue => status::IO_ERROR,
            Failure::BadLease => status::BAD_LEASE,
        }
    }
}

/// The device and the clients' memory, as the scheduler sees them.
pub trait Device {
    /// Whom a job answers (an IPC reply token in the driver).
    type Client;
    /// The device has a volatile write cache that a flush empties. Without
    /// one, completed writes are durable and flush pieces are skipped.
    fn has_flush(&self) -> bool;
    /// Starts `piece` on the free request slot `slot`. For a write, the
    /// data comes from `client`'s lease first (copied into the slot's
    /// buffer, or the device pointed at the client's memory). On an error
    /// the slot stays free.
    fn start(&mut self, slot: usize, piece: &Piece, client: &Self::Client) -> Result<(), Failure>;
    /// A read completed in `slot` with its data in the slot's buffer:
    /// copy it into `client`'s lease.
    fn deliver(&mut self, slot: usize, piece: &Piece, client: &Self::Client)
        -> Result<(), Failure>;
    /// Answers `client`: done, or the first failure with its values.
    fn reply(&mut self, client: Self::Client, result: Result<(), Refusal>);
}
