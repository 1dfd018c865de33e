//! Where a benchmark phase's time went, from the kernel's CPU accounts
//! (`CPU_TIMES`, kernel/src/cpuclock.rs): each process's scheduled cycles
//! (its code and its syscalls), idle and interrupt cycles over the phase.
//! Unlike the services' own wall-clock timers these add up: their sum is
//! the TSC cycles between the two readings, whatever the host did.

use alloc::string::String;
use core::fmt::Write as _;
use userlib::println;
use userlib::sys::{self, CpuTimes};

/// The accounts and this process's TSC at a phase's start.
pub struct Phase {
    start: CpuTimes,
    wall0: u64,
}

/// `part` of `whole` in tenths of a percent.
fn permille(part: u64, whole: u64) -> u64 {
    (part as u128 * 1000 / (whole as u128).max(1)) as u64
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
        let mut line = String::new();
        let mut sum = 0u64;
        let mut part = |who: &str, cycles: u64, line: &mut String| {
            sum = sum.wrapping_add(cycles);
            let pm = permille(cycles, wall);
            if cycles >= 1_000_000 || pm > 0 {
                let _ = write!(
                    line,
                    " {who} {} ({}.{}%)",
                    cycles / 1_000_000,
                    pm / 10,
                    pm % 10
                );
            }
        };
        for (a, b) in self.start.procs[..self.start.slots]
            .iter()
            .zip(&end.procs[..end.slots])
        {
            part(b.name(), b.cycles.wrapping_sub(a.cycles), &mut line);
        }
        part("idle", end.idle.wrapping_sub(self.start.idle), &mut line);
        part(
            "interrupts",
            end.interrupts.wrapping_sub(self.start.interrupts),
            &mut line,
        );
        let pm = permille(sum, wall);
        println!(
            "fsbench: cpu {name}: wall {} Mcycles; scheduled Mcycles:{line}; sum {} = {}.{}% of the wall",
            wall / 1_000_000,
            sum / 1_000_000,
            pm / 10,
            pm % 10
        );
    }
}
