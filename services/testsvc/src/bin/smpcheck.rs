//! The SMP test (`smp-spinners`, scripts/smp_tests.py; test-smp.cfg):
//!
//! 1. Two CPU-bound spinners (slots 1 and 2) run at once: over 50 ticks the
//!    kernel's accounts give them together more cycles than the wall (our
//!    own `rdtsc` between the readings), which one CPU cannot do.
//! 2. A process running on another CPU is ended and restarted, 20 times:
//!    with the first spinner gone, the second is the only other runnable
//!    process, so once the other CPU picked it up it runs there while this
//!    one kills it (the kernel logs each such stop; scripts/smp_tests.py
//!    counts them). Each restart must run again (its cycles grow).
//!
//! Reports to the judge (slot 0), supervises both spinners (`supervise=`).
#![no_std]
#![no_main]

use userlib::sys::{self, CpuTimes};
use userlib::{println, Error};

userlib::entry!(main);

const SPIN_A: usize = 1;
const SPIN_B: usize = 2;
const ROUNDS: u64 = 20;

/// Yields until `ticks` timer ticks have passed.
fn wait_ticks(ticks: u64) {
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + ticks {
        sys::yield_now();
    }
}

/// The scheduled cycles of `slot` now.
fn cycles(slot: usize) -> Result<u64, Error> {
    Ok(CpuTimes::read()?.procs[slot].cycles)
}

/// Waits at least 3 ticks and until `slot` has been scheduled again (at
/// most 200 ticks). The ticks give the other CPU time to take the wake-up
/// IPI (or its own tick) and pick the restarted process: a CPU that ran
/// the ended incarnation is charged to the slot until it enters the
/// kernel, so the cycles alone do not show the new one runs.
fn runs_again(slot: usize, since: u64) -> Result<bool, Error> {
    let (start, _) = sys::ticks();
    loop {
        let now = sys::ticks().0;
        if now >= start + 3 && cycles(slot)? > since {
            return Ok(true);
        }
        if now > start + 200 {
            return Ok(false);
        }
        sys::yield_now();
    }
}

fn both_spinners_at_once() -> Result<bool, Error> {
    // Let both spinners get going first.
    wait_ticks(5);
    let (a, t0) = (CpuTimes::read()?, sys::rdtsc());
    wait_ticks(50);
    let (b, t1) = (CpuTimes::read()?, sys::rdtsc());
    let wall = t1 - t0;
    let spin_a = b.procs[SPIN_A].cycles - a.procs[SPIN_A].cycles;
    let spin_b = b.procs[SPIN_B].cycles - a.procs[SPIN_B].cycles;
    // The machine's cycles (CPU_TIMES): CPUs x TSC cycles.
    let machine = b.tsc - a.tsc;
    let at_once = spin_a + spin_b > wall + wall / 2;
    println!(
        "smpcheck: over 50 ticks the spinners were scheduled {} + {} Mcycles in a wall of {} Mcycles (machine {} Mcycles, {} CPU-walls): both ran at once: {}",
        spin_a / 1_000_000,
        spin_b / 1_000_000,
        wall / 1_000_000,
        machine / 1_000_000,
        (machine + wall / 2) / wall.max(1),
        at_once
    );
    Ok(at_once)
}

fn kill_running_spinner() -> Result<bool, Error> {
    sys::kill(SPIN_A as u64)?;
    let mut restarted = 0;
    for round in 0..ROUNDS {
        // It runs (on the other CPU: nothing else is runnable there).
        let before = cycles(SPIN_B)?;
        if !runs_again(SPIN_B, before)? {
            println!("smpcheck: round {round}: spinB did not run");
            return Ok(false);
        }
        sys::kill(SPIN_B as u64)?;
        let incarnation = sys::restart(SPIN_B as u64)?;
        if incarnation != round + 1 {
            println!("smpcheck: round {round}: incarnation {incarnation}");
            return Ok(false);
        }
        restarted += 1;
    }
    let alive = runs_again(SPIN_B, cycles(SPIN_B)?)?;
    println!(
        "smpcheck: spinB ended while running and restarted {restarted} times; running after: {alive}"
    );
    Ok(restarted == ROUNDS && alive)
}

fn main() {
    let at_once = both_spinners_at_once();
    let kills = kill_running_spinner();
    println!("smpcheck: spinners at once {at_once:?}, kills of a running spinner {kills:?}");
    let pass = at_once == Ok(true) && kills == Ok(true);
    testsvc::report(userlib::ipc::Endpoint(0), "smpcheck", pass, 0, 1);
}
