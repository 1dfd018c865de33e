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
//! - With N CPUs each has its own open interval and idle account (a slot
//!   runs on one CPU at a time); a reading closes every CPU's interval,
//!   so the accounts add up to N x the TSC cycles since the start, which
//!   `CPU_TIMES` returns as the machine's clock. `idle` there is all CPUs'
//!   together; the poweroff line shows each.
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

/// The books' start and the interrupt account (each CPU's open interval
/// and idle cycles are in `Kernel::cpus`).
///
/// # Invariants
/// Every CPU's `since` is the TSC at which its open interval started:
/// every cycle of every online CPU since `start` before it is in exactly
/// one account.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    /// TSC when the books started (every CPU was online by then).
    pub start: u64,
    pub interrupts: u64,
}

impl CpuClock {
    /// Starts the books now (the first process is about to run).
    pub fn start() -> CpuClock {
        CpuClock {
            start: rdtsc(),
            interrupts: 0,
        }
    }
}

impl Kernel {
    /// Closes this CPU's open interval, adds it to `to` and opens the next.
    pub fn charge(&mut self, to: Account) {
        let cpu = self.cpu;
        self.charge_cpu(cpu, to, rdtsc());
    }

    fn charge_cpu(&mut self, cpu: usize, to: Account, now: u64) {
        let c = &mut self.cpus[cpu];
        let cycles = now.wrapping_sub(c.since);
        c.since = now;
        match to {
            Account::Process(pid) => {
                let p = &mut self.procs[pid];
                p.cpu_cycles = p.cpu_cycles.wrapping_add(cycles);
            }
            Account::Idle => c.idle = c.idle.wrapping_add(cycles),
            Account::Interrupts => {
                self.clock.interrupts = self.clock.interrupts.wrapping_add(cycles)
            }
        }
    }

    /// Closes every other CPU's open interval at the TSC of this CPU's
    /// (`since`), charged to what it is doing: its process (in user mode,
    /// or waiting for the lock to enter the kernel for it), the process it
    /// was running when that was ended, or idle.
    fn charge_other_cpus(&mut self) {
        let now = self.cpus[self.cpu].since;
        for c in 0..self.cpus.len() {
            if c == self.cpu {
                continue;
            }
            let to = match (self.cpus[c].running, self.cpus[c].evicted) {
                (Some(p), _) | (None, Some(p)) => Account::Process(p),
                (None, None) => Account::Idle,
            };
            self.charge_cpu(c, to, now);
        }
    }

    /// Idle cycles of all CPUs together.
    pub fn idle_cycles(&self) -> u64 {
        self.cpus.iter().fold(0u64, |s, c| s.wrapping_add(c.idle))
    }

    /// CPU_TIME: the caller's own scheduled cycles (up to this call) and
    /// the TSC now. No arguments, no privilege: it is the caller's own.
    pub fn sys_cpu_time(&mut self) -> SysResult {
        let cur = self.current;
        self.charge(Account::Process(cur));
        Ok([self.procs[cur].cpu_cycles, self.cpus[self.cpu].since, 0, 0])
    }

    /// CPU_TIMES: every slot's scheduled cycles and name into the caller's
    /// array of `count` `CpuTime` records at `addr` (slot i at index i; the
    /// first `min(count, slots)` are written, `count` 0 writes nothing);
    /// returns the number of slots, the idle cycles (all CPUs together)
    /// and interrupt cycles, and the machine's CPU cycles at the reading
    /// (boot TSC + CPUs x TSC cycles since: the TSC with one CPU), which
    /// the accounts add up to. The whole destination is checked before
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
            self.charge_other_cpus();
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
            self.charge_other_cpus();
        }
        // The machine's CPU cycles: with N CPUs the accounts grow N cycles
        // per TSC cycle, so this is what they add up to (the TSC itself
        // with one CPU).
        let now = self.cpus[self.cpu].since;
        let machine = self.clock.start.wrapping_add(
            now.wrapping_sub(self.clock.start)
                .wrapping_mul(self.cpus.len() as u64),
        );
        Ok([
            slots as u64,
            self.idle_cycles(),
            self.clock.interrupts,
            machine,
        ])
    }
}
