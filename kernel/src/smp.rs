//! More than one CPU: the per-CPU block GS points at, and starting the
//! application processors (APs) the ACPI MADT lists.
//!
//! What runs where, under which lock (the rule; process.rs and dispatch.rs
//! follow it):
//! - All kernel state is in `dispatch::KERNEL`, one lock taken by every
//!   trap on every CPU for the whole trap (a big kernel lock). Kernel code
//!   runs with interrupts off except in the idle loop, which holds nothing.
//! - Per CPU without the lock: its `PerCpu` block (index, trap stack top,
//!   the `syscall` entry's user-rsp scratch), its trap stack, GDT and TSS.
//!   Per CPU under the lock: `Kernel::cpus[i]` (which process it runs, its
//!   clock, what it must free when it next holds the lock).
//! - A process runs on at most one CPU: the scheduler never picks one that
//!   another CPU runs. A CPU loads the process's page table whenever it
//!   switches to a process that last ran elsewhere (no PCIDs: a CR3 load
//!   flushes the TLB), so a process that moved never sees stale entries.
//! - A process's page tables change only while it runs on the CPU doing
//!   the change (MEM_ALLOC, MMIO_MAP, DMA_ALLOC/FREE act on the caller),
//!   or after it died. Ending a process that another CPU is running (a
//!   supervisor's KILL) or whose tables another CPU still has loaded (an
//!   idle CPU keeps the last CR3) ends it at once for everyone else (its
//!   slot may even be restarted right away), but its frames are freed only
//!   when each such CPU has taken the lock and switched to the kernel's
//!   own tables; a wake-up IPI makes that happen promptly (`Kernel::kill`,
//!   `Kernel::retire`). Leases and IPC copies go through the direct map
//!   into a blocked process's memory and change no table.
//! - Device interrupts (PIC) and the tick reach the boot CPU only; each AP
//!   has its LAPIC timer at the same rate for preemption. At the end of an
//!   interrupt (a driver's notification, a tick) halted CPUs get a wake-up
//!   IPI for runnable processes no CPU runs; after a syscall they do not
//!   (the woken process mostly runs on the caller's CPU as soon as the
//!   caller blocks, and a move costs more under TCG): an idle CPU's own
//!   tick picks up what is left within 10 ms. The exception is a `REPLY`
//!   with `CONTINUES` (the replier computes on): one halted CPU is woken
//!   for the caller at once (`Kernel::wake_one_idle_cpu`).

use crate::boot::{long_mode_gdt, long_mode_on};
use crate::interrupts::VECTOR_WAKE;
use crate::{apic, cpuclock, gdt, interrupts, memory, syscall};
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use kernel_logic::madt::{self, PhysRead};
use x86_64::registers::model_specific::Msr;

/// Most CPUs the kernel uses (more listed in the MADT stay halted).
pub const MAX_CPUS: usize = 4;

const IA32_GS_BASE: u32 = 0xC000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// What GS points at in the kernel. The `syscall` entry (trap.rs) uses the
/// offsets: +8 trap stack top, +16 the user rsp while it switches stacks.
#[repr(C)]
pub struct PerCpu {
    pub index: u64,
    pub trap_stack_top: u64,
    pub user_rsp: u64,
}

static mut PERCPU: [PerCpu; MAX_CPUS] = [const {
    PerCpu {
        index: 0,
        trap_stack_top: 0,
        user_rsp: 0,
    }
}; MAX_CPUS];

/// APIC ID of each online CPU, by index (0: the boot CPU).
static mut APIC_IDS: [u8; MAX_CPUS] = [0; MAX_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Set by an AP once it runs on the kernel's tables with its own GDT, TSS
/// and IDT (the BSP waits for it before starting the next one).
static AP_READY: AtomicBool = AtomicBool::new(false);

const TRAP_STACK: usize = 64 * 1024;

/// CPUs online (1 until `start_aps`).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// This CPU's index (0 = the boot CPU), from its GS block.
pub fn cpu_index() -> usize {
    let i: u64;
    // Safety: in the kernel GS is this CPU's block (set by `init_cpu`,
    // swapped on every ring change).
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) i, options(nostack, readonly, preserves_flags))
    };
    i as usize
}

/// The trap stack top of CPU `index` (the first frame of each CPU is put
/// below it, main.rs and `ap_main`).
pub fn trap_stack_top(index: usize) -> u64 {
    // Safety: written before the CPU starts, read-only afterwards.
    unsafe { (*core::ptr::addr_of!(PERCPU))[index].trap_stack_top }
}

/// Sends the wake-up IPI to CPU `index`.
pub fn wake(index: usize) {
    // Safety: APIC_IDS is written before the CPU comes online.
    let id = unsafe { (*core::ptr::addr_of!(APIC_IDS))[index] };
    apic::send_ipi(id, VECTOR_WAKE);
}

/// Points GS at CPU `index`'s block (the user's GS base, 0, waits in
/// KERNEL_GS_BASE for the first `swapgs` to ring 3) and loads its GDT/TSS.
fn init_cpu(index: usize, trap_top: u64) {
    // Safety: each CPU writes only its own block, before it uses it.
    unsafe {
        let block = &mut (*core::ptr::addr_of_mut!(PERCPU))[index];
        block.index = index as u64;
        block.trap_stack_top = trap_top;
        Msr::new(IA32_GS_BASE).write(block as *mut PerCpu as u64);
        Msr::new(IA32_KERNEL_GS_BASE).write(0);
    }
    gdt::init(trap_top);
}

/// The boot CPU's part: its GS block, GDT and TSS, its LAPIC.
pub fn init_bsp() {
    let top = core::ptr::addr_of!(crate::trap::trap_stack_top) as u64;
    init_cpu(0, top);
    apic::init_cpu(true);
    // Safety: boot, one CPU.
    unsafe { (*core::ptr::addr_of_mut!(APIC_IDS))[0] = apic::id() };
}

/// ACPI tables through the direct map (the first 4 GiB).
struct DirectRead;

impl PhysRead for DirectRead {
    fn read(&mut self, phys: u64, buf: &mut [u8]) -> bool {
        match phys.checked_add(buf.len() as u64) {
            Some(end) if end <= 4 << 30 => {
                // Safety: inside the direct map; ACPI tables are plain memory.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        memory::phys_to_virt(phys),
                        buf.as_mut_ptr(),
                        buf.len(),
                    )
                };
                true
            }
            _ => false,
        }
    }
}

/// Physical page of the real-mode entry (SIPI vector 0x08). The first MiB
/// is never handed out by the frame allocator (memory.rs reserves it).
const TRAMPOLINE: u64 = 0x8000;
/// Where the BSP leaves each AP its start values, in the trampoline page.
const PARAM_CR3: u64 = TRAMPOLINE + 0xF00;
const PARAM_STACK: u64 = TRAMPOLINE + 0xF08;
const PARAM_ENTRY: u64 = TRAMPOLINE + 0xF10;
const PARAM_CPU: u64 = TRAMPOLINE + 0xF18;

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
}

// The AP's first instructions, copied to TRAMPOLINE: real mode -> 32-bit
// protected mode -> long mode on the boot page tables (boot.rs; they map
// low memory and the kernel image) by boot.rs's own switch and GDT
// entries, then a call to `ap_main` on the stack the BSP chose. Addresses
// are TRAMPOLINE-relative; far jumps are encoded by hand as in boot.rs.
global_asm!(
    r#"
    .set AP_BASE, 0x8000
    .pushsection .rodata.ap_trampoline, "a"
    .global ap_trampoline_start
    .global ap_trampoline_end
    .code16
ap_trampoline_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    /* lgdt [ap_gdt_ptr] (0F 01 /2, 16-bit displacement), by hand: the
       assembler takes no label difference as a memory operand. */
    .byte 0x0F, 0x01, 0x16
    .word ap_gdt_ptr - ap_trampoline_start + AP_BASE
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0x66, 0xEA
    .long ap_pm32 - ap_trampoline_start + AP_BASE
    .word 0x18
    .code32
ap_pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, [AP_BASE + 0xF00]
    mov cr3, eax
"#,
    long_mode_on!(),
    r#"
    .byte 0xEA
    .long ap_lm64 - ap_trampoline_start + AP_BASE
    .word 0x08
    .code64
ap_lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, qword ptr [AP_BASE + 0xF08]
    mov rdi, qword ptr [AP_BASE + 0xF18]
    mov rax, qword ptr [AP_BASE + 0xF10]
    call rax
2:
    hlt
    jmp 2b
    .balign 8
ap_gdt:
"#,
    long_mode_gdt!(),
    r#"
    .quad 0x00CF9A000000FFFF
ap_gdt_ptr:
    .word 31
    .long ap_gdt - ap_trampoline_start + AP_BASE
ap_trampoline_end:
    .popsection
"#
);

/// The BSP's CR0, CR4 and CR3 of the kernel tables, for the APs to copy.
static mut BSP_CR0: u64 = 0;
static mut BSP_CR4: u64 = 0;

/// Starts every CPU the MADT lists (up to MAX_CPUS), one at a time, and
/// logs `cpus: N online`. Without a usable MADT the kernel runs on the
/// boot CPU alone.
pub fn start_aps(rsdp: u64) {
    let cpus = match madt::find_cpus::<MAX_CPUS>(&mut DirectRead, rsdp) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("acpi: no CPU list ({e:?}); running on the boot CPU only");
            log::info!("cpus: 1 online");
            return;
        }
    };
    log::info!(
        "acpi: MADT lists {} CPUs (APIC IDs {:?}), using up to {}",
        cpus.listed,
        &cpus.apic_ids[..cpus.count],
        MAX_CPUS
    );
    if cpus.count <= 1 {
        log::info!("cpus: 1 online");
        return;
    }
    apic::calibrate();
    // Safety: reading control registers; the BSP's values are the model.
    unsafe {
        let (cr0, cr4): (u64, u64);
        core::arch::asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack));
        core::ptr::addr_of_mut!(BSP_CR0).write(cr0);
        core::ptr::addr_of_mut!(BSP_CR4).write(cr4);
    }
    // Copy the trampoline to its page.
    // Safety: the linker symbols bound the trampoline's bytes; the target
    // page is below 1 MiB, reserved from the allocator, direct-mapped.
    unsafe {
        let start = core::ptr::addr_of!(ap_trampoline_start);
        let len = core::ptr::addr_of!(ap_trampoline_end) as usize - start as usize;
        assert!(
            len < 0xF00,
            "AP trampoline of {len} bytes overlaps its parameters"
        );
        core::ptr::copy_nonoverlapping(start, memory::phys_to_virt(TRAMPOLINE), len);
    }
    let boot_cr3: u64;
    // Safety: the boot tables' address, a link-time constant below 4 GiB.
    unsafe { core::arch::asm!("movabs {}, offset boot_pml4", out(reg) boot_cr3) };
    let bsp_id = apic::id();
    for &id in &cpus.apic_ids[..cpus.count] {
        if id == bsp_id {
            continue;
        }
        let index = online();
        if index >= MAX_CPUS {
            break;
        }
        let stack = alloc::vec![0u8; TRAP_STACK].leak();
        let top = (stack.as_ptr() as u64 + TRAP_STACK as u64) & !15;
        // Safety: the AP is not running yet; these are its start values.
        unsafe {
            (*core::ptr::addr_of_mut!(APIC_IDS))[index] = id;
            (*core::ptr::addr_of_mut!(PERCPU))[index].trap_stack_top = top;
            let param = |a: u64| memory::phys_to_virt(a) as *mut u64;
            param(PARAM_CR3).write_volatile(boot_cr3);
            // Its Rust code starts below the slot of its first frame.
            param(PARAM_STACK).write_volatile(top - crate::trap::TRAP_FRAME_SIZE as u64 - 64);
            param(PARAM_ENTRY).write_volatile(ap_main as *const () as u64);
            param(PARAM_CPU).write_volatile(index as u64);
        }
        AP_READY.store(false, Ordering::SeqCst);
        apic::start_ap(id, (TRAMPOLINE >> 12) as u8);
        let t0 = cpuclock::rdtsc();
        let mut waited_ms = 0;
        while !AP_READY.load(Ordering::Acquire) && waited_ms < 1000 {
            apic::delay_us(1000);
            waited_ms += 1;
        }
        if AP_READY.load(Ordering::Acquire) {
            ONLINE.store(index + 1, Ordering::Release);
            log::info!(
                "cpu {index}: APIC ID {id} started ({} Mcycles)",
                (cpuclock::rdtsc() - t0) / 1_000_000
            );
        } else {
            log::error!("cpu with APIC ID {id} did not start; going on without it");
        }
    }
    log::info!("cpus: {} online", online());
}

/// An AP's first Rust code, on its trap stack under the boot tables.
extern "C" fn ap_main(index: u64) -> ! {
    let index = index as usize;
    // Safety: the kernel's tables map everything the boot tables map that
    // the kernel uses from here on (its image, the direct map); CR0 and CR4
    // as the BSP has them (write protect, SMEP, SMAP, SSE off as there).
    unsafe {
        memory::write_cr3(memory::kernel_root());
        let (cr0, cr4) = (
            core::ptr::addr_of!(BSP_CR0).read(),
            core::ptr::addr_of!(BSP_CR4).read(),
        );
        core::arch::asm!("mov cr0, {}", in(reg) cr0, options(nostack));
        core::arch::asm!("mov cr4, {}", in(reg) cr4, options(nostack));
    }
    init_cpu(index, trap_stack_top(index));
    interrupts::load_idt();
    syscall::init();
    apic::init_cpu(false);
    apic::start_timer();
    AP_READY.store(true, Ordering::Release);
    crate::dispatch::ap_idle(index)
}
