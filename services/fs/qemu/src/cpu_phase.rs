//! Where a benchmark phase's time went, from the kernel's CPU accounts
//! (`CPU_TIMES`, kernel/src/cpuclock.rs): each process's scheduled cycles
//! (its code and its syscalls), idle and interrupt cycles over the phase.
//! Unlike the services' own wall-clock timers these add up: their sum is
//! the TSC cycles between the two readings, whatever the host did.

use userlib::println;
use userlib::sys::{self, CpuTimes};

/// The accounts and this process's TSC at a phase's start.
pub struct Phase {
    start: CpuTimes,
    wall0: u64,
}

impl Phase {
    /// Reads the accounts (`None` if the kernel refuses: then no line).
    pub fn begin() -> Option<Phase> {
        let wall0 = sys::rdtsc();
        let start = CpuTimes::read().ok()?;
        Some(Phase { start, wall0 })
    }

    /// Prints `fsbench: cpu NAME: ...`: the phase's wall cycles as this
    /// process's `rdtsc` saw them, then each process with a share, idle and
    /// interrupts (Mcycles and tenths of a percent of the wall), and their
    /// sum.
    pub fn end(self, name: &str) {
        let Ok(end) = CpuTimes::read() else { return };
        let wall = sys::rdtsc().wrapping_sub(self.wall0);
        let (line, sum) = end.shares_since(&self.start, wall, 1_000_000);
        let pm = sys::permille(sum, wall);
        println!(
            "fsbench: cpu {name}: wall {} Mcycles; scheduled Mcycles:{line}; sum {} = {}.{}% of the wall",
            wall / 1_000_000,
            sum / 1_000_000,
            pm / 10,
            pm % 10
        );
    }
}
