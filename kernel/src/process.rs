//! Processes and the scheduler. The kernel state is one `Kernel` value behind
//! a lock; every trap takes it, saves the interrupted process's registers
//! into its `Process`, acts, picks the next process and loads its registers.
//!
//! Scheduling is round robin with a one-tick quantum; IPC hands the CPU
//! directly to the process it woke (the callee of a `CALL`, the caller of a
//! `REPLY_RECV`), which is what makes a round trip two switches. With more
//! than one CPU each runs this same scheduler for itself under the one
//! lock, skipping processes another CPU runs (smp.rs has the rules).

use crate::memory::{self, DirectMap};
use crate::trap::{TrapFrame, USER_CS, USER_SS};
use crate::usermem::UserSliceMut;
use abi::{Error, Message};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_logic::bootimg::{CapSpec, ProcSpec};
use kernel_logic::caps::{Cap, CapTable, Pid};
use kernel_logic::deaths::DeathQueue;
use kernel_logic::elf::{self, ElfError};
use kernel_logic::grants::Grants;
use kernel_logic::layout::{
    PAGE_SIZE, USER_ALLOC_BASE, USER_DMA_BASE, USER_MMIO_BASE, USER_STACK_SIZE, USER_STACK_TOP,
};
use kernel_logic::paging::{self, MapError, NO_EXECUTE, USER, WRITABLE};

/// What a process is doing.
///
/// # Invariants
/// - A process is in `server.senders` exactly when its state is
///   `Sending { server, .. }`, and at most once.
/// - `AwaitingReply { server, .. }` is left only by a reply from `server`
///   with the token of the current `call_seq`, or by `server`'s death
///   (result `PeerDead`).
/// - A `Dead` process is in no queue, owns no interrupt line, and its
///   frames are back in the allocator (a driver's DMA frames quarantined);
///   its pid is reused only by `RESTART` of the same boot-configuration
///   line, whose call sequence continues the dead one's (death.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Runnable,
    /// Blocked in `RECV` (or `REPLY_RECV`): the message goes to `buf`;
    /// notifications in `mask` wake it; calls only if `calls`.
    Receiving {
        buf: UserSliceMut<Message>,
        mask: u64,
        calls: bool,
    },
    /// Blocked in `CALL`, queued at `server` (message in `Process::outgoing`).
    Sending {
        server: Pid,
        reply_buf: UserSliceMut<Message>,
    },
    /// Blocked in `CALL`, delivered; waits for `server`'s reply.
    AwaitingReply {
        server: Pid,
        reply_buf: UserSliceMut<Message>,
    },
    Dead,
}

pub struct Process {
    pub name: String,
    /// Physical address of the PML4.
    pub root: u64,
    pub frame: TrapFrame,
    pub state: State,
    /// Boxed: the table is 3 KiB, and every IPC touches the small hot
    /// fields of two processes; inline it spread them over more pages,
    /// each a soft-TLB refill after a switch under TCG (docs/speed.md).
    pub caps: alloc::boxed::Box<CapTable>,
    pub notify_pending: u64,
    /// Callers queued at this process, oldest first.
    pub senders: VecDeque<Pid>,
    /// The message of this process's outstanding call (leases keep the
    /// caller's addresses here) and the badge it was sent with.
    pub outgoing: Message,
    pub outgoing_badge: u64,
    /// Bumped by each call; part of the reply token.
    pub call_seq: u64,
    pub console: bool,
    pub poweroff: bool,
    pub mem_limit: u64,
    pub mem_used: u64,
    /// Most of `mem_limit` ever in use (printed at poweroff, to size `mem=`).
    pub mem_peak: u64,
    pub alloc_next: u64,
    /// Device rights from the boot configuration.
    pub grants: Grants,
    pub mmio_next: u64,
    pub dma_next: u64,
    /// Notification bits posted when a death notice is queued (0: the
    /// process did not ask, `DEATH_WATCH`).
    pub death_bits: u64,
    pub deaths: DeathQueue,
    /// Processes this one supervises (`supervise=`).
    pub supervises: Vec<Pid>,
    /// 0 for the boot-time process, +1 at each `RESTART` of its slot.
    pub incarnation: u64,
    /// Physical frames of a dead driver's DMA memory, kept out of the
    /// allocator until its slot is restarted (`death.rs`).
    pub quarantine: Vec<u64>,
    /// TSC cycles this slot has been scheduled on the CPU, syscalls
    /// included (`cpuclock.rs`; kept across `RESTART`).
    pub cpu_cycles: u64,
    /// The CPU that last loaded this process's page table (`usize::MAX`:
    /// none yet). Another CPU, or this one after the process ran elsewhere,
    /// loads CR3 afresh (smp.rs: no stale TLB entries after a move).
    pub last_cpu: usize,
    /// The CPU running it (mirrors `CpuState::running`, so the scheduler
    /// asks in O(1) whether another CPU has it: `Kernel::set_running`
    /// keeps the two equal).
    pub running_on: Option<usize>,
}

/// Why a boot-image program could not be loaded (printed with `{:?}`).
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug
pub enum LoadError {
    Elf(ElfError),
    Map(MapError),
    NoMemory,
}

impl From<MapError> for LoadError {
    fn from(e: MapError) -> Self {
        LoadError::Map(e)
    }
}

fn map_zeroed(root: u64, vaddr: u64, flags: u64) -> Result<u64, LoadError> {
    let frame = memory::alloc_zeroed_frame().ok_or(LoadError::NoMemory)?;
    if let Err(e) = paging::map_4k(&mut DirectMap, root, vaddr, frame, flags) {
        memory::free_frame(frame);
        return Err(e.into());
    }
    Ok(frame)
}

impl Process {
    /// Builds a process from its ELF image: address space, segments, stack.
    pub fn load(spec: &ProcSpec, image: &[u8]) -> Result<Process, LoadError> {
        let plan = elf::plan(image).map_err(LoadError::Elf)?;
        let root = memory::new_address_space().ok_or(LoadError::NoMemory)?;
        if let Err(e) = Self::populate(root, &plan, image) {
            // A failed load (a RESTART short of frames) leaks nothing.
            for f in paging::user_frames(&mut DirectMap, root) {
                memory::free_frame(f);
            }
            memory::free_frame(root);
            return Err(e);
        }
        let frame = TrapFrame {
            rdi: spec.arg,
            rip: plan.entry,
            cs: USER_CS,
            ss: USER_SS,
            rsp: USER_STACK_TOP - 8,
            rflags: 0x202,
            ..TrapFrame::default()
        };
        Ok(Process {
            name: spec.name.clone(),
            root,
            frame,
            state: State::Runnable,
            caps: alloc::boxed::Box::default(),
            notify_pending: 0,
            senders: VecDeque::new(),
            outgoing: Message::default(),
            outgoing_badge: 0,
            call_seq: 0,
            console: spec.console,
            poweroff: spec.poweroff,
            mem_limit: spec.mem_limit,
            mem_used: 0,
            mem_peak: 0,
            alloc_next: USER_ALLOC_BASE,
            grants: spec.grants.clone(),
            mmio_next: USER_MMIO_BASE,
            dma_next: USER_DMA_BASE,
            death_bits: 0,
            deaths: DeathQueue::default(),
            supervises: spec.supervises.clone(),
            incarnation: 0,
            quarantine: Vec::new(),
            cpu_cycles: 0,
            last_cpu: usize::MAX,
            running_on: None,
        })
    }

    /// Loads the process `spec` describes and grants its capabilities, as
    /// at boot (and at `RESTART`).
    pub fn from_spec(spec: &ProcSpec, image: &[u8]) -> Result<Process, String> {
        let mut p = Process::load(spec, image)
            .map_err(|e| alloc::format!("loading {}: {e:?}", spec.name))?;
        for cap in &spec.caps {
            let cap = match *cap {
                CapSpec::Endpoint { server, badge } => Cap::Endpoint { server, badge },
                CapSpec::Notification { target, bits } => Cap::Notification { target, bits },
            };
            p.caps
                .insert(cap)
                .map_err(|e| alloc::format!("caps of {}: {e:?}", spec.name))?;
        }
        Ok(p)
    }

    /// Maps and fills the segments and the stack of a new address space.
    fn populate(root: u64, plan: &elf::LoadPlan, image: &[u8]) -> Result<(), LoadError> {
        for page in &plan.pages {
            let mut flags = USER;
            if page.writable {
                flags |= WRITABLE;
            }
            if !page.executable {
                flags |= NO_EXECUTE;
            }
            map_zeroed(root, page.vaddr, flags)?;
        }
        for seg in &plan.segments {
            let bytes =
                &image[seg.file_offset as usize..(seg.file_offset + seg.file_size) as usize];
            // The pages were just mapped (the plan checked the range); copy
            // through the direct map, page by page.
            let mut done = 0usize;
            while done < bytes.len() {
                let va = seg.vaddr + done as u64;
                let n = ((PAGE_SIZE - va % PAGE_SIZE) as usize).min(bytes.len() - done);
                let t = paging::translate(&mut DirectMap, root, va).ok_or(LoadError::NoMemory)?;
                // Safety: `t.paddr` is inside a frame just allocated for this
                // process; n bytes do not cross its page.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        bytes[done..].as_ptr(),
                        memory::phys_to_virt(t.paddr),
                        n,
                    )
                };
                done += n;
            }
        }
        let mut va = USER_STACK_TOP - USER_STACK_SIZE;
        while va < USER_STACK_TOP {
            map_zeroed(root, va, USER | WRITABLE | NO_EXECUTE)?;
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Sets the syscall result registers of this (saved) process.
    pub fn set_result(&mut self, result: Result<[u64; 4], Error>) {
        match result {
            Ok(v) => {
                self.frame.rax = 0;
                self.frame.rdi = v[0];
                self.frame.rsi = v[1];
                self.frame.rdx = v[2];
                self.frame.r10 = v[3];
            }
            Err(e) => self.frame.rax = e as u64,
        }
    }
}

/// One CPU as the kernel state sees it (under the kernel lock; smp.rs has
/// the rules).
#[derive(Clone, Debug, Default)]
pub struct CpuState {
    /// The process this CPU runs: in user mode, or in the kernel in the
    /// trap that holds the lock. `None` while it is idle, and after
    /// another CPU ended the process it was running (`evicted`).
    pub running: Option<Pid>,
    /// The process this CPU was running when another CPU ended it; the CPU
    /// drops that process's registers when it next enters the kernel (its
    /// cycles until then are the dead slot's).
    pub evicted: Option<Pid>,
    /// The process it ran last (round robin continues after it).
    pub last: Pid,
    /// Its process used its quantum (this CPU's tick) or yielded.
    pub need_resched: bool,
    /// The page table it has loaded (kept after the process leaves, until
    /// it loads another).
    pub cr3: u64,
    /// Halted in the idle loop, not yet sent a wake-up IPI.
    pub halted: bool,
    /// TSC at which its open accounting interval started (cpuclock.rs).
    pub since: u64,
    /// Cycles it spent idle (`hlt`).
    pub idle: u64,
    /// Wake-up IPIs sent to it, and taken by it (printed at poweroff).
    pub wakes_sent: u64,
    pub wakes_taken: u64,
    /// TSC cycles it waited for the kernel lock (inside whatever account
    /// was open: the cost of the one lock, printed at poweroff).
    pub lock_wait: u64,
}

/// The frames of a dead process whose page table some CPUs (`holders`,
/// a bit per CPU index) may still have loaded: freed when the last of them
/// has taken the kernel lock and left it (`Kernel::retire`).
pub struct Retiring {
    pub holders: u64,
    pub frames: Vec<u64>,
}

pub struct Kernel {
    pub procs: Vec<Process>,
    /// The process of the CPU holding the lock (`cpus[cpu].running` at the
    /// trap's entry; the next process at its end).
    pub current: Pid,
    /// The index of the CPU holding the lock (smp.rs).
    pub cpu: usize,
    /// Every online CPU, by index.
    pub cpus: Vec<CpuState>,
    /// Page-table frames waiting for other CPUs to leave them.
    pub retiring: Vec<Retiring>,
    /// Switch to this process next if it is runnable (IPC hand-off).
    pub next_hint: Option<Pid>,
    pub ticks: u64,
    /// Interrupt line -> (process, notification bits) bound by `IRQ_BIND`.
    pub irq_owner: [Option<(Pid, u64)>; 16],
    pub stats: Stats,
    /// Each slot's boot configuration line and ELF (in the boot image,
    /// which stays reserved), for `RESTART`.
    pub specs: Vec<ProcSpec>,
    pub images: Vec<&'static [u8]>,
    /// Where the CPU's time went: idle, interrupts, the open interval
    /// (each process's share is `Process::cpu_cycles`).
    pub clock: crate::cpuclock::CpuClock,
}

/// Counters printed when the machine powers off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub syscalls: u64,
    /// Calls delivered at once to a waiting server.
    pub calls_direct: u64,
    /// Calls that had to queue at a busy server.
    pub calls_queued: u64,
    pub replies: u64,
    pub notifications: u64,
    pub processes_ended: u64,
    pub processes_restarted: u64,
    /// Wake-up IPIs sent for a `REPLY` with `reply_flags::CONTINUES` (the
    /// replier kept its CPU; a halted one was woken for the caller).
    pub reply_wakes: u64,
}

impl Kernel {
    /// Ends `pid`: logs why, fails every call blocked on it with `PeerDead`,
    /// takes it out of any queue, and returns its memory.
    pub fn kill(&mut self, pid: Pid, why: core::fmt::Arguments) {
        if self.procs[pid].state == State::Dead {
            return;
        }
        self.stats.processes_ended += 1;
        log::warn!(
            "process {} (pid {}) ended: {}",
            self.procs[pid].name,
            pid,
            why
        );
        let open_call = match self.procs[pid].state {
            State::Sending { server, .. } | State::AwaitingReply { server, .. } => {
                Some((server, self.procs[pid].outgoing_badge))
            }
            _ => None,
        };
        if let State::Sending { server, .. } = self.procs[pid].state {
            self.procs[server].senders.retain(|&p| p != pid);
        }
        self.procs[pid].state = State::Dead;
        self.procs[pid].senders.clear();
        for irq in 0..16u8 {
            if matches!(self.irq_owner[irq as usize], Some((owner, _)) if owner == pid) {
                self.irq_owner[irq as usize] = None;
                crate::interrupts::set_masked(irq, true);
            }
        }
        for p in 0..self.procs.len() {
            // Capabilities it sent with calls still open go with it.
            self.procs[p].caps.release_client(pid);
            match self.procs[p].state {
                State::Sending { server, .. } | State::AwaitingReply { server, .. }
                    if server == pid =>
                {
                    self.procs[p].set_result(Err(Error::PeerDead));
                    self.procs[p].state = State::Runnable;
                }
                _ => {}
            }
        }
        let root = self.procs[pid].root;
        if memory::read_cr3() == root {
            // Safety: the kernel's own tables; stop using the dying ones.
            unsafe { memory::write_cr3(memory::kernel_root()) };
            self.cpus[self.cpu].cr3 = memory::kernel_root();
        }
        // Other CPUs: one running it stops (its registers are dropped when
        // it enters the kernel); any that still has its tables loaded must
        // leave them before the frames are reused (smp.rs).
        let mut holders = 0u64;
        for (c, cpu) in self.cpus.iter_mut().enumerate() {
            if c == self.cpu {
                continue;
            }
            if cpu.running == Some(pid) {
                cpu.running = None;
                self.procs[pid].running_on = None;
                cpu.evicted = Some(pid);
                log::info!(
                    "process {} (pid {}) was running on cpu {}: stopped there at its next kernel entry",
                    self.procs[pid].name,
                    pid,
                    c
                );
            }
            if cpu.cr3 == root {
                holders |= 1 << c;
            }
        }
        if self.procs[pid].grants.dma {
            // Its devices may still write into its DMA memory (requests in
            // flight): stop them, and never hand those frames out again.
            let stopped = crate::pci::quiesce_granted_functions(&self.procs[pid].grants);
            let mut quarantine = Vec::new();
            let mut va = USER_DMA_BASE;
            while va < self.procs[pid].dma_next {
                if let Some(entry) = paging::unmap_4k(&mut DirectMap, root, va) {
                    quarantine.push(entry & 0x000F_FFFF_FFFF_F000);
                }
                va += PAGE_SIZE;
            }
            let kept = quarantine.len();
            // Freed only if the slot is restarted (death.rs says why then).
            self.procs[pid].quarantine = quarantine;
            log::warn!(
                "process {}: bus mastering and INTx off for {} PCI functions, {} DMA frames quarantined",
                self.procs[pid].name,
                stopped,
                kept
            );
        }
        let frames = paging::user_frames(&mut DirectMap, root);
        let returned = frames.len() + 1;
        if holders == 0 {
            for f in &frames {
                memory::free_frame(*f);
            }
            memory::free_frame(root);
        } else {
            let mut frames = frames;
            frames.push(root);
            self.retiring.push(Retiring { holders, frames });
            for c in 0..self.cpus.len() {
                if holders & (1 << c) != 0 {
                    self.cpus[c].wakes_sent += 1;
                    crate::smp::wake(c);
                }
            }
        }
        log::info!(
            "process {}: {} frames returned (memory peak {} KiB of its {} KiB)",
            self.procs[pid].name,
            returned,
            self.procs[pid].mem_peak >> 10,
            self.procs[pid].mem_limit >> 10
        );
        self.tell_deaths(pid, open_call);
        if self.procs.iter().all(|p| p.state == State::Dead) {
            log::warn!("no processes left");
        }
    }

    /// Frees what waits for this CPU to leave a dead process's tables:
    /// called by each CPU as it takes the lock, before anything else.
    pub fn retire(&mut self) {
        let bit = 1u64 << self.cpu;
        if !self.retiring.iter().any(|r| r.holders & bit != 0) {
            return;
        }
        // Safety: the kernel's own tables; this CPU runs no process now
        // (idle, or the one it ran has been ended).
        unsafe { memory::write_cr3(memory::kernel_root()) };
        self.cpus[self.cpu].cr3 = memory::kernel_root();
        let cpu = self.cpu;
        self.retiring.retain_mut(|r| {
            r.holders &= !bit;
            if r.holders != 0 {
                return true;
            }
            for &f in &r.frames {
                memory::free_frame(f);
            }
            log::info!(
                "cpu {cpu}: left an ended process's tables; its {} frames freed",
                r.frames.len()
            );
            false
        });
    }

    /// Whether a CPU other than this one runs `pid`.
    fn runs_elsewhere(&self, pid: Pid) -> bool {
        matches!(self.procs[pid].running_on, Some(c) if c != self.cpu)
    }

    /// CPU `cpu` now runs `pid` (or nothing): `CpuState::running` and the
    /// processes' `running_on` change together.
    pub fn set_running(&mut self, cpu: usize, pid: Option<Pid>) {
        // The common case of a trap: the same process goes on.
        if self.cpus[cpu].running == pid {
            return;
        }
        if let Some(old) = self.cpus[cpu].running {
            if self.procs[old].running_on == Some(cpu) {
                self.procs[old].running_on = None;
            }
        }
        self.cpus[cpu].running = pid;
        if let Some(p) = pid {
            self.procs[p].running_on = Some(cpu);
        }
    }

    fn can_run(&self, pid: Pid) -> bool {
        self.procs[pid].state == State::Runnable && !self.runs_elsewhere(pid)
    }

    /// Chooses the process this CPU runs next, or `None` if nothing can
    /// run here. Never one that another CPU is running.
    pub fn pick_next(&mut self) -> Option<Pid> {
        let cpu = self.cpu;
        if let Some(h) = self.next_hint.take() {
            if self.can_run(h) {
                self.cpus[cpu].need_resched = false;
                return Some(h);
            }
        }
        let n = self.procs.len();
        let cur = self.cpus[cpu].running.unwrap_or(self.cpus[cpu].last);
        if !self.cpus[cpu].need_resched && self.can_run(cur) {
            return Some(cur);
        }
        self.cpus[cpu].need_resched = false;
        (1..=n).map(|i| (cur + i) % n).find(|&p| self.can_run(p))
    }

    /// After this CPU chose what it runs: wake halted CPUs, one per
    /// runnable process that no CPU runs (else they pick it up at their
    /// next tick). Called at the end of interrupts only (dispatch.rs says
    /// why).
    pub fn wake_idle_cpus(&mut self) {
        if !self.cpus.iter().any(|c| c.halted) {
            return;
        }
        let mut waiting = (0..self.procs.len())
            .filter(|&p| {
                self.procs[p].state == State::Runnable && self.procs[p].running_on.is_none()
            })
            .count();
        for c in 0..self.cpus.len() {
            if waiting == 0 {
                break;
            }
            if self.cpus[c].halted {
                self.cpus[c].halted = false;
                self.cpus[c].wakes_sent += 1;
                crate::smp::wake(c);
                waiting -= 1;
            }
        }
    }

    /// Wakes one halted CPU, if any, for a process a syscall made runnable
    /// while the caller keeps its CPU (a `REPLY` with `CONTINUES`): that
    /// CPU runs it now instead of at its next tick. Never on one CPU (the
    /// caller's CPU is the only one, and it is not halted).
    pub fn wake_one_idle_cpu(&mut self) -> bool {
        let Some(c) = self.cpus.iter().position(|c| c.halted) else {
            return false;
        };
        self.cpus[c].halted = false;
        self.cpus[c].wakes_sent += 1;
        crate::smp::wake(c);
        true
    }

    /// Sets notification `bits` on `pid` and wakes it if it waits for them.
    pub fn post_notification(&mut self, pid: Pid, bits: u64) {
        self.stats.notifications += 1;
        let p = &mut self.procs[pid];
        if p.state == State::Dead {
            return;
        }
        p.notify_pending |= bits;
        if let State::Receiving { mask, .. } = p.state {
            let ready = p.notify_pending & mask;
            if ready != 0 {
                p.notify_pending &= !ready;
                p.set_result(Ok([abi::recv_kind::NOTIFICATION, ready, 0, 0]));
                p.state = State::Runnable;
            }
        }
    }
}
