//! Per-process CPU accounting: which process the CPU's time went to.
//!
//! A process's own `rdtsc` counts wall time: when the CPU runs another
//! process (or the host deschedules QEMU) the cycles land in whatever
//! interval the process happened to be timing. The kernel is the one place
//! that knows who is on the CPU, so it keeps the books:
//!
//! - Every TSC cycle since boot goes to exactly one account: a process
//!   slot (its user code *and* the syscalls it makes, from the trap that
//!   enters the kernel to the switch that leaves it), `idle` (the `hlt`
//!   loop, nothing runnable) or `interrupts` (device interrupt handling,
//!   the timer's included). So at any reading the slots plus idle plus
//!   interrupts add up to the TSC cycles since the clock started, and over
//!   a phase the differences add up to the phase's wall cycles.
//! - An interval is closed (`Kernel::charge`) at the end of each trap, just
//!   before the next process is chosen (so the scheduling decision, the
//!   frame load and the CR3 switch are the next process's), around each
//!   device interrupt, around each `hlt`, and when a process reads the
//!   books (`CPU_TIME`, `CPU_TIMES`), so a reading includes the caller's
//!   current interval.
//! - A slot's cycles survive `RESTART` (like its call sequence), so the
//!   accounts keep adding up across a death.
//!
//! Cost: one `rdtsc` per trap, three per interrupt; nothing per process.
//! Under TCG the TSC follows the host clock, so a descheduled QEMU still
//! lands in whichever account is open: the split between processes stays
//! honest (only one can be open), the total follows the host.

use crate::process::Kernel;
use crate::usermem::UserSliceMut;
use abi::{CpuTime, Error, CPU_NAME_LEN};
use kernel_logic::bootimg::MAX_PROCS;
use kernel_logic::caps::Pid;

type SysResult = Result<[u64; 4], Error>;

/// The CPU's time-stamp counter.
pub fn rdtsc() -> u64 {
    // Safety: rdtsc only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Where an interval of CPU time goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    Process(Pid),
    Idle,
    Interrupts,
}

/// The accounts that are not a process, and the open interval.
///
/// # Invariants
/// `since` is the TSC at which the open interval started: every cycle
/// before it is in exactly one account.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    since: u64,
    pub idle: u64,
    pub interrupts: u64,
}

impl CpuClock {
    /// Starts the books now (the first process is about to run).
    pub fn start() -> CpuClock {
        CpuClock {
            since: rdtsc(),
            idle: 0,
            interrupts: 0,
        }
    }
}

impl Kernel {
    /// Closes the open interval, adds it to `to` and opens the next one.
    pub fn charge(&mut self, to: Account) {
        let now = rdtsc();
        let cycles = now.wrapping_sub(self.clock.since);
        self.clock.since = now;
        match to {
            Account::Process(pid) => {
                let p = &mut self.procs[pid];
                p.cpu_cycles = p.cpu_cycles.wrapping_add(cycles);
            }
            Account::Idle => self.clock.idle = self.clock.idle.wrapping_add(cycles),
            Account::Interrupts => {
                self.clock.interrupts = self.clock.interrupts.wrapping_add(cycles)
            }
        }
    }

    /// CPU_TIME: the caller's own scheduled cycles (up to this call) and
    /// the TSC now. No arguments, no privilege: it is the caller's own.
    pub fn sys_cpu_time(&mut self) -> SysResult {
        let cur = self.current;
        self.charge(Account::Process(cur));
        Ok([self.procs[cur].cpu_cycles, self.clock.since, 0, 0])
    }

    /// CPU_TIMES: every slot's scheduled cycles and name into the caller's
    /// array of `count` `CpuTime` records at `addr` (slot i at index i; the
    /// first `min(count, slots)` are written, `count` 0 writes nothing);
    /// returns the number of slots, the idle and interrupt cycles, and the
    /// TSC at the reading. The whole destination is checked before
    /// anything is written. No privilege: how busy each service was is
    /// what any process can already see from the gaps in its own `rdtsc`.
    pub fn sys_cpu_times(&mut self, addr: u64, count: u64) -> SysResult {
        let cur = self.current;
        let slots = self.procs.len();
        let n = (count.min(MAX_PROCS as u64) as usize).min(slots);
        if n > 0 {
            // A count beyond the slots is fine as long as the memory is:
            // only the first n records are written, and they are checked.
            let dst = UserSliceMut::<CpuTime>::new(addr, count)?.sub(0, n as u64)?;
            dst.check(&mut crate::memory::DirectMap, self.procs[cur].root)?;
            self.charge(Account::Process(cur));
            let mut records = [CpuTime::default(); MAX_PROCS];
            for (r, p) in records.iter_mut().zip(&self.procs) {
                r.cycles = p.cpu_cycles;
                let name = p.name.as_bytes();
                let len = name.len().min(CPU_NAME_LEN);
                r.name[..len].copy_from_slice(&name[..len]);
            }
            dst.write_from(
                &mut crate::memory::DirectMap,
                self.procs[cur].root,
                &records[..n],
            )?;
        } else {
            self.charge(Account::Process(cur));
        }
        Ok([
            slots as u64,
            self.clock.idle,
            self.clock.interrupts,
            self.clock.since,
        ])
    }
}
