//! The local APIC (xAPIC, memory-mapped): each CPU's own interrupt
//! controller. Used for what the 8259 PIC cannot do: start the other CPUs
//! (INIT-SIPI-SIPI, smp.rs), interrupt another CPU (the wake-up IPI) and
//! give each application processor its own periodic timer.
//!
//! Device interrupts and the BSP's tick stay where they were: the 8259 PIC
//! and the PIT, delivered to the BSP's LINT0 in virtual-wire mode (ExtINT;
//! such interrupts are acknowledged at the PIC, not here). The APs mask
//! LINT0, so a PIC interrupt always reaches the BSP alone.
//!
//! The registers are reached through the kernel's direct map, whose 2 MiB
//! page over them is mapped uncached (memory.rs).

use crate::interrupts::{VECTOR_LAPIC_TIMER, VECTOR_SPURIOUS};
use core::sync::atomic::{AtomicU32, Ordering};
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1B;

const REG_ID: usize = 0x20;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
const REG_ICR_LOW: usize = 0x300;
const REG_ICR_HIGH: usize = 0x310;
const REG_LVT_TIMER: usize = 0x320;
const REG_LVT_LINT0: usize = 0x350;
const REG_LVT_LINT1: usize = 0x360;
const REG_LVT_ERROR: usize = 0x370;
const REG_TIMER_INIT: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3E0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DELIVERY_EXTINT: u32 = 0b111 << 8;
const DELIVERY_NMI: u32 = 0b100 << 8;
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
/// Timer divide configuration 0b0011: the bus clock divided by 16.
const DIVIDE_BY_16: u32 = 0b0011;

/// LAPIC timer counts (divide by 16) per scheduling tick, from the
/// calibration against the PIT at boot.
static TICK_COUNT: AtomicU32 = AtomicU32::new(0);
/// TSC cycles per millisecond, from the same calibration (for the waits of
/// the AP start-up).
static TSC_PER_MS: AtomicU32 = AtomicU32::new(0);

/// Physical address of this CPU's LAPIC registers (the same on every CPU
/// unless firmware moved one; QEMU does not).
pub fn phys_base() -> u64 {
    // Safety: reading IA32_APIC_BASE has no side effects.
    unsafe { Msr::new(IA32_APIC_BASE).read() & 0x000F_FFFF_FFFF_F000 }
}

fn reg(offset: usize) -> *mut u32 {
    (crate::memory::phys_to_virt(phys_base()) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // Safety: a LAPIC register, direct-mapped uncached.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // Safety: as `read`; writes are how the LAPIC is programmed.
    unsafe { reg(offset).write_volatile(value) }
}

/// This CPU's APIC ID.
pub fn id() -> u8 {
    (read(REG_ID) >> 24) as u8
}

/// Software-enables this CPU's LAPIC. The BSP keeps receiving the PIC
/// through LINT0 (ExtINT); an AP masks LINT0. LINT1 is the NMI line on both.
pub fn init_cpu(bsp: bool) {
    write(REG_SVR, SVR_ENABLE | u32::from(VECTOR_SPURIOUS));
    write(
        REG_LVT_LINT0,
        if bsp { DELIVERY_EXTINT } else { LVT_MASKED },
    );
    write(REG_LVT_LINT1, DELIVERY_NMI);
    write(REG_LVT_ERROR, LVT_MASKED);
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_EOI, 0);
}

/// End of interrupt for a LAPIC-delivered vector (timer, IPI). Not for
/// the PIC's ExtINT interrupts.
pub fn eoi() {
    write(REG_EOI, 0);
}

fn outb(port: u16, value: u8) {
    // Safety: PIT channel 2 and the speaker gate, which the kernel owns.
    unsafe { Port::new(port).write(value) }
}

fn inb(port: u16) -> u8 {
    // Safety: as `outb`.
    unsafe { Port::new(port).read() }
}

/// Measures the LAPIC timer and the TSC against 10 ms of PIT channel 2
/// (one-shot, polled through port 0x61), once on the BSP before interrupts
/// are on. The LAPIC timer then gives the APs the BSP's tick length.
pub fn calibrate() {
    const PIT_HZ: u32 = 1_193_182;
    const MS: u32 = 10;
    let count = PIT_HZ * MS / 1000;
    // Gate channel 2 on, speaker off; mode 0 (interrupt on terminal count).
    let gate = inb(0x61) & !0x02;
    outb(0x61, gate & !0x01);
    outb(0x43, 0b1011_0000);
    outb(0x42, count as u8);
    outb(0x42, (count >> 8) as u8);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED);
    // A rising gate starts the count.
    outb(0x61, gate | 0x01);
    write(REG_TIMER_INIT, u32::MAX);
    let tsc0 = crate::cpuclock::rdtsc();
    // OUT2 (bit 5) goes high at terminal count; bounded so a missing PIT
    // cannot hang the boot.
    let mut spins = 0u64;
    while inb(0x61) & 0x20 == 0 && spins < 100_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    let lapic = u32::MAX - read(REG_TIMER_CURRENT);
    let tsc = crate::cpuclock::rdtsc() - tsc0;
    write(REG_TIMER_INIT, 0);
    outb(0x61, gate & !0x01);
    let per_tick = u64::from(lapic) * 1000 / u64::from(MS) / u64::from(crate::interrupts::TIMER_HZ);
    TICK_COUNT.store(
        per_tick.clamp(1000, u64::from(u32::MAX)) as u32,
        Ordering::Relaxed,
    );
    TSC_PER_MS.store(
        (tsc / u64::from(MS)).clamp(1000, u64::from(u32::MAX)) as u32,
        Ordering::Relaxed,
    );
    log::info!(
        "apic: timer {} counts per tick ({} Hz, divide 16), TSC {} kHz (against 10 ms of PIT channel 2)",
        per_tick,
        crate::interrupts::TIMER_HZ,
        tsc / u64::from(MS)
    );
}

/// Starts this CPU's periodic timer at the BSP's tick rate (APs only).
pub fn start_timer() {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(VECTOR_LAPIC_TIMER));
    write(REG_TIMER_INIT, TICK_COUNT.load(Ordering::Relaxed));
}

/// Busy-waits `us` microseconds by the TSC.
pub fn delay_us(us: u64) {
    let per_ms = u64::from(TSC_PER_MS.load(Ordering::Relaxed).max(1000));
    let start = crate::cpuclock::rdtsc();
    while crate::cpuclock::rdtsc() - start < per_ms * us / 1000 {
        core::hint::spin_loop();
    }
}

fn send_icr(apic_id: u8, low: u32) {
    while read(REG_ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, u32::from(apic_id) << 24);
    write(REG_ICR_LOW, low);
}

/// A fixed-vector interrupt to the CPU with `apic_id`.
pub fn send_ipi(apic_id: u8, vector: u8) {
    send_icr(apic_id, ICR_ASSERT | u32::from(vector));
}

/// INIT, then two STARTUPs at `page` (the real-mode entry at page * 4096),
/// with the waits of the MP specification.
pub fn start_ap(apic_id: u8, page: u8) {
    send_icr(apic_id, ICR_ASSERT | ICR_INIT);
    delay_us(10_000);
    for _ in 0..2 {
        send_icr(apic_id, ICR_STARTUP | u32::from(page));
        delay_us(200);
    }
}
