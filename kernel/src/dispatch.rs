//! `trap_entry`: what every stub in `trap.rs` calls, on every CPU. Takes
//! the kernel lock, saves the interrupted process, handles the syscall /
//! fault / interrupt, picks who runs next on this CPU and loads its
//! registers into the frame the stub returns through (smp.rs: the rules).

use crate::cpuclock::Account;
use crate::interrupts::{
    self, IRQ_BASE, IRQ_COM1, IRQ_TIMER, VECTOR_LAPIC_TIMER, VECTOR_SPURIOUS, VECTOR_WAKE,
};
use crate::process::Kernel;
use crate::trap::{TrapFrame, SYSCALL_VECTOR};
use crate::{apic, memory, serial, smp};
use spin::mutex::{FairMutex, FairMutexGuard};

/// The kernel state, one lock for every CPU's whole trap (smp.rs). A fair
/// spin lock: a CPU that has waited a while (1024 spins) gets it next, so
/// a CPU whose process makes syscalls back to back cannot starve another
/// one waiting to enter (with a plain spin lock, under TCG the waiting CPU
/// lost every race); short waits stay first-come (a ticket lock, strictly
/// in order, made every hand-off wait for the other vCPU's host thread:
/// the pingpong test took 43 s instead of 2).
pub static KERNEL: FairMutex<Option<Kernel>> = FairMutex::new(None);

const EXCEPTION_NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
    "#VE virtualization",
    "#CP control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved",
];

fn cr2() -> u64 {
    let v: u64;
    // Safety: reading CR2 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Handles a device interrupt (both from user mode and from the idle loop).
fn device_interrupt(k: &mut Kernel, irq: u8) {
    match irq {
        IRQ_TIMER => {
            // The PIT ticks on the boot CPU only (the APs have their
            // LAPIC timers).
            k.ticks += 1;
            let cpu = k.cpu;
            k.cpus[cpu].need_resched = true;
        }
        IRQ_COM1 if serial::on_interrupt() => {
            for pid in 0..k.procs.len() {
                if k.procs[pid].console {
                    k.post_notification(pid, abi::CONSOLE_INPUT_BIT);
                }
            }
        }
        _ => {
            // A driver's line: masked until its owner acknowledges with IRQ_ACK
            // (the device keeps the line asserted until the driver serves it).
            if let Some((owner, bits)) = k.irq_owner[irq as usize & 15] {
                interrupts::set_masked(irq, true);
                k.post_notification(owner, bits);
            }
        }
    }
    interrupts::eoi(irq);
}

/// Takes the kernel lock on CPU `cpu`: the state learns which CPU holds
/// it and frees what waited for this CPU to leave a dead process's tables.
fn lock(cpu: usize) -> FairMutexGuard<'static, Option<Kernel>> {
    // Only a wait is timed: an `rdtsc` is a helper call under TCG, and two
    // per trap made the one-CPU null syscall ~40 % dearer.
    let (mut guard, waited) = match KERNEL.try_lock() {
        Some(guard) => (guard, 0),
        None => {
            let t0 = crate::cpuclock::rdtsc();
            let guard = KERNEL.lock();
            (guard, crate::cpuclock::rdtsc().wrapping_sub(t0))
        }
    };
    if let Some(k) = guard.as_mut() {
        k.cpu = cpu;
        k.cpus[cpu].lock_wait = k.cpus[cpu].lock_wait.wrapping_add(waited);
        k.retire();
    }
    guard
}

/// Vectors that are interrupts (the PIC's lines and the LAPIC's), not
/// exceptions.
fn is_interrupt(vector: u64) -> bool {
    (IRQ_BASE..IRQ_BASE + 16).contains(&vector)
        || vector == u64::from(VECTOR_LAPIC_TIMER)
        || vector == u64::from(VECTOR_WAKE)
        || vector == u64::from(VECTOR_SPURIOUS)
}

/// Handles an interrupt vector, from user mode or from the idle loop.
fn interrupt(k: &mut Kernel, vector: u64) {
    match vector {
        v if (IRQ_BASE..IRQ_BASE + 16).contains(&v) => device_interrupt(k, (v - IRQ_BASE) as u8),
        v if v == u64::from(VECTOR_LAPIC_TIMER) => {
            // An AP's tick: its quantum is over.
            let cpu = k.cpu;
            k.cpus[cpu].need_resched = true;
            apic::eoi();
        }
        v if v == u64::from(VECTOR_WAKE) => {
            let cpu = k.cpu;
            k.cpus[cpu].wakes_taken += 1;
            apic::eoi();
        }
        // Spurious: no end of interrupt.
        _ => {}
    }
}

#[no_mangle]
extern "C" fn trap_entry(frame: &mut TrapFrame) {
    let cpu = smp::cpu_index();
    let vector = frame.vector;
    if frame.cs & 3 == 0 {
        // From the kernel: only the idle loop runs with interrupts on.
        if is_interrupt(vector) {
            if vector == u64::from(VECTOR_SPURIOUS) {
                return;
            }
            let mut guard = lock(cpu);
            let k = guard
                .as_mut()
                .expect("kernel state exists once interrupts are on");
            // The hlt until now was idle time; the handling is the
            // interrupts' (cpuclock.rs).
            k.charge(Account::Idle);
            interrupt(k, vector);
            k.charge(Account::Interrupts);
            return;
        }
        let name = EXCEPTION_NAMES
            .get(vector as usize)
            .copied()
            .unwrap_or("interrupt");
        panic!(
            "kernel exception {} (vector {}) error {:#x} at rip {:#x}, cr2 {:#x}, rsp {:#x} (cpu {})",
            name,
            vector,
            frame.error,
            frame.rip,
            cr2(),
            frame.rsp,
            cpu
        );
    }

    let mut guard = lock(cpu);
    let k = guard
        .as_mut()
        .expect("kernel state exists before user mode");
    match k.cpus[cpu].running {
        Some(cur) => {
            k.current = cur;
            k.procs[cur].frame = *frame;
            match vector {
                SYSCALL_VECTOR => k.syscall(),
                0..32 => {
                    let name = EXCEPTION_NAMES[vector as usize];
                    let cr2_note = if vector == 14 {
                        alloc::format!(", cr2 {:#x}", cr2())
                    } else {
                        alloc::string::String::new()
                    };
                    k.kill(
                        cur,
                        format_args!(
                            "{} (vector {}) error {:#x} at rip {:#x}{}",
                            name, vector, frame.error, frame.rip, cr2_note
                        ),
                    );
                }
                v if is_interrupt(v) => {
                    k.charge(Account::Process(cur));
                    interrupt(k, v);
                    k.charge(Account::Interrupts);
                }
                _ => log::warn!("unexpected vector {vector}"),
            }
            // Up to here the CPU worked for `cur`: its code and this trap
            // (a syscall's work is the caller's). Choosing and entering the
            // next process is the next one's.
            k.charge(Account::Process(cur));
        }
        None => {
            // Another CPU ended the process this one was running (smp.rs):
            // its registers are dropped; an interrupt is still handled.
            if let Some(gone) = k.cpus[cpu].evicted.take() {
                k.charge(Account::Process(gone));
            }
            if is_interrupt(vector) {
                interrupt(k, vector);
                k.charge(Account::Interrupts);
            }
        }
    }
    // Halted CPUs are woken for runnable work at the end of an interrupt
    // (a device's notification, a tick), not after a syscall: what a
    // syscall wakes mostly runs here as soon as the caller blocks (IPC),
    // and moving it to another CPU costs more under TCG than that wait
    // (docs/speed.md: with kicks after syscalls too, the fs bench's
    // small puts ran at a third of their one-CPU rate). An idle CPU's own
    // tick picks up anything left within 10 ms.
    schedule(guard, frame, cpu, is_interrupt(vector));
}

/// Picks what this CPU runs next and loads its registers into `frame`;
/// idles (interrupts on, `hlt`, the lock released) while nothing can run.
fn schedule(
    mut guard: FairMutexGuard<'static, Option<Kernel>>,
    frame: &mut TrapFrame,
    cpu: usize,
    kick: bool,
) {
    let next = loop {
        let k = guard.as_mut().expect("kernel state exists");
        if let Some(p) = k.pick_next() {
            break p;
        }
        if k.procs
            .iter()
            .all(|p| p.state == crate::process::State::Dead)
        {
            drop(guard);
            crate::poweroff_failure("every process has ended");
        }
        if let Some(p) = k.cpus[cpu].running {
            k.cpus[cpu].last = p;
            k.set_running(cpu, None);
        }
        k.cpus[cpu].halted = true;
        drop(guard);
        // Safety: interrupts are enabled only for the hlt, with nothing locked.
        unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
        guard = lock(cpu);
        let k = guard.as_mut().expect("kernel state exists");
        k.cpus[cpu].halted = false;
        k.charge(Account::Idle);
    };
    let k = guard.as_mut().expect("kernel state exists");
    k.current = next;
    k.set_running(cpu, Some(next));
    k.cpus[cpu].last = next;
    let root = k.procs[next].root;
    // A process that last ran on another CPU may have changed its tables
    // there: reload even if this CPU still has them loaded (smp.rs).
    if memory::read_cr3() != root || k.procs[next].last_cpu != cpu {
        // Safety: a process page table, whose upper half is the kernel's.
        unsafe { memory::write_cr3(root) };
        k.cpus[cpu].cr3 = root;
    }
    k.procs[next].last_cpu = cpu;
    *frame = k.procs[next].frame;
    if kick {
        k.wake_idle_cpus();
    }
}

/// An application processor's life after start-up (smp.rs): wait for the
/// kernel state, then schedule like every trap's end does, entering user
/// space through the frame slot at the top of its trap stack.
pub fn ap_idle(cpu: usize) -> ! {
    while KERNEL.lock().is_none() {
        core::hint::spin_loop();
    }
    let top = smp::trap_stack_top(cpu) as usize;
    let slot = (top - crate::trap::TRAP_FRAME_SIZE) as *mut TrapFrame;
    // Safety: the slot is the top of this CPU's trap stack, above the
    // stack this code runs on (smp.rs starts it lower).
    unsafe {
        slot.write(TrapFrame::default());
        let guard = lock(cpu);
        schedule(guard, &mut *slot, cpu, false);
        crate::trap::trap_return_to(slot)
    }
}
