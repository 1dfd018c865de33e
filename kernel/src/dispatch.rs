//! `trap_entry`: what every stub in `trap.rs` calls. Saves the interrupted
//! process, handles the syscall / fault / interrupt, picks who runs next and
//! loads its registers into the frame the stub returns through.

use crate::cpuclock::Account;
use crate::interrupts::{self, IRQ_BASE, IRQ_COM1, IRQ_TIMER};
use crate::process::Kernel;
use crate::trap::{TrapFrame, SYSCALL_VECTOR};
use crate::{memory, serial};
use spin::Mutex;

pub static KERNEL: Mutex<Option<Kernel>> = Mutex::new(None);

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
            k.ticks += 1;
            k.need_resched = true;
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

#[no_mangle]
extern "C" fn trap_entry(frame: &mut TrapFrame) {
    let vector = frame.vector;
    if frame.cs & 3 == 0 {
        // From the kernel: only the idle loop runs with interrupts on.
        if (IRQ_BASE..IRQ_BASE + 16).contains(&vector) {
            let mut guard = KERNEL.lock();
            let k = guard
                .as_mut()
                .expect("kernel state exists once interrupts are on");
            // The hlt until now was idle time; the handling is the
            // interrupts' (cpuclock.rs).
            k.charge(Account::Idle);
            device_interrupt(k, (vector - IRQ_BASE) as u8);
            k.charge(Account::Interrupts);
            return;
        }
        let name = EXCEPTION_NAMES
            .get(vector as usize)
            .copied()
            .unwrap_or("interrupt");
        panic!(
            "kernel exception {} (vector {}) error {:#x} at rip {:#x}, cr2 {:#x}, rsp {:#x}",
            name,
            vector,
            frame.error,
            frame.rip,
            cr2(),
            frame.rsp
        );
    }

    let mut guard = KERNEL.lock();
    let k = guard
        .as_mut()
        .expect("kernel state exists before user mode");
    let cur = k.current;
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
        v if (IRQ_BASE..IRQ_BASE + 16).contains(&v) => {
            k.charge(Account::Process(cur));
            device_interrupt(k, (v - IRQ_BASE) as u8);
            k.charge(Account::Interrupts);
        }
        _ => log::warn!("unexpected vector {vector}"),
    }
    // Up to here the CPU worked for `cur`: its code and this trap (a
    // syscall's work is the caller's). Choosing and entering the next
    // process is the next one's.
    k.charge(Account::Process(cur));

    // Pick the next process; idle (interrupts on, hlt) while none can run.
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
        drop(guard);
        // Safety: interrupts are enabled only for the hlt, with nothing locked.
        unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
        guard = KERNEL.lock();
        guard
            .as_mut()
            .expect("kernel state exists")
            .charge(Account::Idle);
    };
    let k = guard.as_mut().expect("kernel state exists");
    k.current = next;
    let root = k.procs[next].root;
    if memory::read_cr3() != root {
        // Safety: a process page table, whose upper half is the kernel's.
        unsafe { memory::write_cr3(root) };
    }
    *frame = k.procs[next].frame;
}
