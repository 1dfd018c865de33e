//! Where a bulk transfer's time went, from the kernel's CPU accounts
//! (`CPU_TIMES`, kernel/src/cpuclock.rs): from the moment a connection
//! starts moving a body (a blob pulled, an upload pushed) until no
//! connection moves one, each process's scheduled cycles, idle and
//! interrupt cycles. They add up to the wall (the TSC between the two
//! readings), so a pull's time shows split between the fs service, this
//! service, the network service, the driver and the kernel's idle loop.
//!
//! Printed only for transfers of at least [`PRINT_BYTES`], one line each
//! (`registry: cpu pull 67 MB: ...`), which `qemu.py bench net` reads.

use alloc::string::String;
use core::fmt::Write as _;
use net_api::Net;
use registry_http::Bulk;
use userlib::println;
use userlib::sys::{self, CpuTimes};

/// Smaller transfers print nothing (a console line per manifest would be
/// noise, and its serial output would cost more than the transfer).
pub const PRINT_BYTES: u64 = 16 << 20;
/// The driver's counters are read (an IPC call through the network
/// service) once a transfer has moved this much, not at its start: a
/// manifest or small blob push costs no extra calls.
const DRIVER_FROM: u64 = 1 << 20;

/// The accounts at the start of a round of the service loop: a transfer
/// that starts in the round is accounted from here, so its first piece
/// counts.
pub struct Mark {
    start: CpuTimes,
    wall0: u64,
}

impl Mark {
    /// Now (`None` if the kernel refuses the accounts).
    pub fn now() -> Option<Mark> {
        let wall0 = sys::rdtsc();
        let start = CpuTimes::read().ok()?;
        Some(Mark { start, wall0 })
    }
}

/// One transfer in progress: what it is, the accounts at its start, and
/// the bytes moved over the sockets since.
pub struct Transfer {
    kind: Bulk,
    start: CpuTimes,
    wall0: u64,
    pub bytes: u64,
    /// Socket calls (reads, writes, polls) and fs calls made meanwhile.
    pub net_calls: u64,
    pub fs_calls: u64,
    /// Socket reads answered `WOULD_BLOCK` meanwhile (the whole transfer).
    pub empty_reads: u64,
    /// The virtio-net driver's counters (frames received, sent,
    /// interrupts, notifications, -, send calls) once the transfer moved
    /// [`DRIVER_FROM`], and `bytes` then.
    driver: Option<([u64; 6], u64)>,
}

impl Transfer {
    /// Starts accounting a `kind` transfer from `mark` (`None` without
    /// one: then nothing is printed).
    pub fn begin(kind: Bulk, mark: Option<Mark>) -> Option<Transfer> {
        let Mark { start, wall0 } = mark?;
        Some(Transfer {
            kind,
            start,
            wall0,
            bytes: 0,
            net_calls: 0,
            fs_calls: 0,
            empty_reads: 0,
            driver: None,
        })
    }

    /// The transfer has moved `bytes`: past [`DRIVER_FROM`] the driver's
    /// counters are read once.
    pub fn progress(&mut self, bytes: u64, net: &Net) {
        self.bytes = bytes;
        if self.driver.is_none() && bytes >= DRIVER_FROM {
            if let Ok(d) = net.driver_stats() {
                self.driver = Some((d, bytes));
            }
        }
    }

    /// Ends the transfer; prints its line if it moved [`PRINT_BYTES`].
    pub fn end(self, net: &Net) {
        if self.bytes < PRINT_BYTES {
            return;
        }
        let Ok(end) = CpuTimes::read() else { return };
        let wall = sys::rdtsc().wrapping_sub(self.wall0);
        let mib = (self.bytes >> 20).max(1);
        // The driver's frames, interrupts and calls per MiB since it was
        // first read.
        let mut frames = String::new();
        if let (Some((a, from)), Ok(b)) = (self.driver, net.driver_stats()) {
            let mib = ((self.bytes - from) >> 20).max(1);
            let per = |i: usize| b[i].wrapping_sub(a[i]) / mib;
            let _ = write!(
                frames,
                "; driver per MiB: {} frames in, {} out, {} interrupts, {} send calls, {} notifications",
                per(0),
                per(1),
                per(2),
                per(5),
                per(3)
            );
        }
        let (line, sum) = end.shares_since(&self.start, wall, u64::MAX);
        let pm = sys::permille(sum, wall);
        println!(
            "registry: cpu {} {} MiB: wall {} Mcycles ({} Mcycles/MiB); scheduled Mcycles:{line}; sum {} = {}.{}% of the wall; per MiB: {} socket calls, {} fs calls{frames}; {} reads would block",
            match self.kind {
                Bulk::Pull => "pull",
                Bulk::Push => "push",
            },
            self.bytes >> 20,
            wall / 1_000_000,
            wall / mib / 1_000_000,
            sum / 1_000_000,
            pm / 10,
            pm % 10,
            self.net_calls / mib,
            self.fs_calls / mib,
            self.empty_reads,
        );
    }
}
