//! IDT (vectors 0..64 point at the stubs in `trap.rs`, shared by every
//! CPU), the legacy 8259 PICs remapped to vectors 32..48, and the PIT as
//! the boot CPU's preemption timer (the other CPUs use their LAPIC timer,
//! apic.rs).

use crate::trap::isr_table;
use core::sync::atomic::{AtomicU16, Ordering};
use x86_64::instructions::port::Port;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

pub const IRQ_BASE: u64 = 32;
/// The local APICs' vectors (apic.rs): each AP's periodic timer, the
/// wake-up IPI (a CPU halted in the idle loop has work, or the process it
/// runs was ended by another CPU), and the spurious vector.
pub const VECTOR_LAPIC_TIMER: u8 = 48;
pub const VECTOR_WAKE: u8 = 49;
pub const VECTOR_SPURIOUS: u8 = 63;
pub const IRQ_TIMER: u8 = 0;
pub const IRQ_COM1: u8 = 4;
/// Timer interrupts per second (the scheduling quantum is one tick).
pub const TIMER_HZ: u32 = 100;

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

static mut IDT: [Gate; 256] = [Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    attributes: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
}; 256];

pub fn init() {
    // Safety: runs once at boot with interrupts off; the IDT is static.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        for (vector, gate) in idt.iter_mut().enumerate().take(crate::trap::VECTORS) {
            let addr = isr_table[vector];
            *gate = Gate {
                offset_low: addr as u16,
                selector: 0x08,
                // The double fault runs on its own stack (IST index is 1-based).
                ist: if vector == 8 {
                    crate::gdt::DOUBLE_FAULT_IST as u8 + 1
                } else {
                    0
                },
                attributes: 0x8E, // present, DPL 0, interrupt gate
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                reserved: 0,
            };
        }
    }
    load_idt();
    init_pic();
    init_pit();
}

/// Loads the shared IDT on this CPU (the BSP in `init`, each AP at start).
pub fn load_idt() {
    // Safety: the IDT is filled by `init` before any AP starts and never
    // changes afterwards.
    unsafe {
        lidt(&DescriptorTablePointer {
            limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
            base: VirtAddr::new(core::ptr::addr_of!(IDT) as u64),
        });
    }
}

fn outb(port: u16, value: u8) {
    // Safety: only called for the PIC and PIT ports, which the kernel owns.
    unsafe { Port::new(port).write(value) }
}

fn init_pic() {
    // ICW1..ICW4: cascade, vectors 32/40, 8086 mode.
    for (cmd, data, base, wiring) in [
        (0x20, 0x21, IRQ_BASE as u8, 4u8),
        (0xA0, 0xA1, IRQ_BASE as u8 + 8, 2u8),
    ] {
        outb(cmd, 0x11);
        outb(data, base);
        outb(data, wiring);
        outb(data, 0x01);
    }
    // Unmask the timer, the cascade and COM1 only; drivers' lines are
    // unmasked by IRQ_BIND / IRQ_ACK.
    let mask: u16 = !((1 << IRQ_TIMER) | (1 << 2) | (1 << IRQ_COM1));
    MASK.store(mask, Ordering::Relaxed);
    write_mask(mask);
}

/// Bit n set = IRQ n masked at the PIC.
static MASK: AtomicU16 = AtomicU16::new(0xFFFF);

fn write_mask(mask: u16) {
    outb(0x21, mask as u8);
    outb(0xA1, (mask >> 8) as u8);
}

/// Masks or unmasks line `irq` (0..16) at the PIC.
pub fn set_masked(irq: u8, masked: bool) {
    let bit = 1u16 << (irq & 15);
    let old = MASK.load(Ordering::Relaxed);
    let new = if masked { old | bit } else { old & !bit };
    MASK.store(new, Ordering::Relaxed);
    write_mask(new);
}

fn init_pit() {
    let divisor = 1_193_182 / TIMER_HZ;
    outb(0x43, 0x34); // channel 0, lo/hi byte, rate generator
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
}

/// End of interrupt for `irq`.
pub fn eoi(irq: u8) {
    if irq >= 8 {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}
