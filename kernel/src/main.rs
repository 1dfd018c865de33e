//! The microkernel: boots through QEMU's PVH entry, loads the services of the
//! boot image (a PVH module, `-initrd`) into their own address spaces and
//! runs them in ring 3, where they talk only through IPC.
//!
//! Design principles (after Hubris and seL4):
//! - Simple and clear over fast and clever: one kernel stack per CPU, a
//!   non-preemptible kernel behind one lock, a fixed process set from the
//!   boot image, round-robin scheduling, a bitmap frame allocator.
//! - Isolation first: each process has its own page table; every user pointer
//!   is checked against that table before the kernel touches it; a faulting
//!   process is ended alone, and whoever waits on it gets an error.
//! - A process can name only what its capability table holds; badges and
//!   reply tokens come from the kernel, so they cannot be forged.
//! - The logic that can be tested on the host lives in `kernel-logic`; this
//!   crate is the hardware glue around it.
//!
//! Init order (each module's `init`): serial/log, memory (heap, frames, page
//! tables), the boot CPU's GS block, GDT/TSS and LAPIC, IDT/PIC/PIT, syscall
//! MSRs, the other CPUs (smp.rs), processes from the boot image.
#![no_std]
#![no_main]

extern crate alloc;
// Linked for its `memcpy`/`memmove`/`memset` symbols (tuned for QEMU TCG,
// docs/speed.md): the lease copy and frame zeroing go through them.
extern crate tcgmem;

mod apic;
mod boot;
mod cpuclock;
mod death;
mod dispatch;
mod gdt;
mod interrupts;
mod ipc;
mod memory;
mod pci;
mod process;
mod rtc;
mod serial;
mod smp;
mod syscall;
mod trap;
mod usermem;

use alloc::vec::Vec;
use boot::{StartInfo, START_INFO_MAGIC};
use kernel_logic::bootimg::{parse_config, BootImage, CONFIG_NAME};
use kernel_logic::budget::{check_reservations, Reservation};
use process::{Kernel, Process};
use x86_64::instructions::port::Port;

/// The isa-debug-exit device (`-device isa-debug-exit,iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;
/// isa-debug-exit value after a kernel panic or boot failure (status 0x7f*2+1).
const EXIT_KERNEL_FAILURE: u64 = 0x7f;
/// isa-debug-exit value when every process has ended (status 0x12*2+1 = 37).
const EXIT_ALL_ENDED: u64 = 0x12;

/// Stops the machine. `POWEROFF_CLEAN` (0) asks for an ACPI S5 soft-off
/// (QEMU exits with status 0); any other code `v` goes to isa-debug-exit
/// (status 2v+1).
pub fn poweroff(code: u64) -> ! {
    // Safety: port writes to QEMU's power-management and exit devices.
    unsafe {
        if code == abi::POWEROFF_CLEAN {
            // q35 (ICH9): SeaBIOS puts PMBASE at 0x600; PM1a_CNT is +4.
            // SLP_TYP 0 with SLP_EN is soft-off in QEMU.
            Port::<u16>::new(0x604).write(0x2000);
            // QEMU acts on the request from its main loop: give it time
            // before falling back to isa-debug-exit.
            let start = core::arch::x86_64::_rdtsc();
            while core::arch::x86_64::_rdtsc() - start < 2_000_000_000 {
                core::hint::spin_loop();
            }
        }
        Port::<u32>::new(DEBUG_EXIT_PORT).write(code as u32);
    }
    loop {
        x86_64::instructions::hlt();
    }
}

pub fn poweroff_failure(why: &str) -> ! {
    log::error!("{why}; stopping");
    poweroff(EXIT_ALL_ENDED)
}

#[no_mangle]
pub extern "C" fn kernel_main(start_info_phys: u32) -> ! {
    serial::init();
    log::info!("kernel: booting (PVH start info at {start_info_phys:#x})");
    // Safety: the boot tables direct-map low memory, where QEMU put the
    // start info (ebx, checked by its magic below).
    let info: StartInfo =
        unsafe { *(memory::phys_to_virt(start_info_phys as u64) as *const StartInfo) };
    if info.magic != START_INFO_MAGIC {
        log::error!("bad PVH start info magic {:#x}", info.magic);
        poweroff(EXIT_KERNEL_FAILURE);
    }
    memory::init(&info);
    smp::init_bsp();
    interrupts::init();
    syscall::init();
    rtc::init();
    smp::start_aps(info.rsdp_paddr);

    let cmdline = boot_cmdline(&info);
    log::info!("command line: {cmdline:?}");
    let BootProcs {
        procs,
        specs,
        images,
    } = load_boot_image(&info, cmdline).unwrap_or_else(|why| {
        log::error!("boot image: {why}");
        poweroff(EXIT_KERNEL_FAILURE)
    });
    log::info!(
        "kernel: {} processes loaded, {} frames free; entering user space",
        procs.len(),
        memory::free_frames()
    );
    let mut procs = procs;
    let first = procs[0].frame;
    // Safety: the first process's page table; its upper half is the kernel's.
    unsafe { memory::write_cr3(procs[0].root) };
    let clock = cpuclock::CpuClock::start();
    let mut cpus = alloc::vec![
        process::CpuState {
            since: clock.start,
            ..Default::default()
        };
        smp::online()
    ];
    cpus[0].running = Some(0);
    cpus[0].cr3 = procs[0].root;
    procs[0].last_cpu = 0;
    procs[0].running_on = Some(0);
    *dispatch::KERNEL.lock() = Some(Kernel {
        procs,
        current: 0,
        cpu: 0,
        cpus,
        retiring: Vec::new(),
        next_hint: None,
        ticks: 0,
        irq_owner: [None; 16],
        stats: Default::default(),
        specs,
        images,
        clock,
    });

    // Enter user space through the common exit path with the first frame
    // placed where the trap stubs would have put it.
    // Safety: the frame sits at the top of the (unused) trap stack.
    unsafe {
        let top = core::ptr::addr_of!(trap::trap_stack_top) as usize;
        let slot = (top - trap::TRAP_FRAME_SIZE) as *mut trap::TrapFrame;
        slot.write(first);
        trap::trap_return_to(slot)
    }
}

fn boot_cmdline(info: &StartInfo) -> &'static str {
    if info.cmdline_paddr == 0 {
        return "";
    }
    let base = memory::phys_to_virt(info.cmdline_paddr);
    // Safety: QEMU wrote a NUL-terminated command line in low memory; the
    // scan is bounded.
    let bytes = unsafe {
        let mut n = 0;
        while n < 4096 && *base.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(base, n)
    };
    core::str::from_utf8(bytes).unwrap_or("")
}

/// Parses the boot image and loads every configured process. The command
/// line may name another configuration file in the image: `config=<file>`.
fn load_boot_image(info: &StartInfo, cmdline: &str) -> Result<BootProcs, alloc::string::String> {
    use alloc::format;
    let module = *memory::modules(info)
        .first()
        .ok_or("no boot module (pass the boot image with -initrd)")?;
    // Safety: QEMU loaded the module at `paddr` (reserved from the frame
    // allocator); the direct map covers it.
    let image: &'static [u8] = unsafe {
        core::slice::from_raw_parts(memory::phys_to_virt(module.paddr), module.size as usize)
    };
    let archive = BootImage::parse(image).map_err(|e| format!("{e:?}"))?;
    let config_name = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("config="))
        .unwrap_or(CONFIG_NAME);
    let config = archive
        .file(config_name)
        .ok_or_else(|| format!("no {config_name} in the boot image"))?;
    let specs = parse_config(config, &|name| archive.file(name).is_some())
        .map_err(|e| format!("{config_name}: {e:?}"))?;
    let mut procs = Vec::new();
    let mut images = Vec::new();
    for spec in &specs {
        let elf = archive
            .file(&spec.image)
            .ok_or_else(|| format!("image {} missing", spec.image))?;
        let p = Process::from_spec(spec, elf)?;
        images.push(elf);
        // The page-table root names the process in a register dump
        // (scripts/profile.py attributes sampled RIPs by CR3).
        log::info!(
            "loaded {} from {} ({} bytes, {} capabilities, cr3 {:#x})",
            spec.name,
            spec.image,
            elf.len(),
            spec.caps.len(),
            p.root
        );
        procs.push(p);
    }
    // Every mem= is a reservation: refuse a configuration whose limits do
    // not fit in the frames left after loading (kernel_logic::budget).
    let limits: Vec<Reservation> = specs
        .iter()
        .map(|s| (s.name.as_str(), s.mem_limit, !s.grants.mmio.is_empty()))
        .collect();
    let free = memory::free_frames();
    let reserved = check_reservations(&limits, free).map_err(|e| format!("{config_name}: {e}"))?;
    log::info!(
        "memory: {} KiB reserved for the processes' mem= limits, {} KiB free",
        reserved * 4,
        free * 4
    );
    Ok(BootProcs {
        procs,
        specs,
        images,
    })
}

/// What the boot image gave: the processes, and for `RESTART` each one's
/// configuration line and ELF.
struct BootProcs {
    procs: Vec<Process>,
    specs: Vec<kernel_logic::bootimg::ProcSpec>,
    images: Vec<&'static [u8]>,
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("KERNEL PANIC: {}", info);
    poweroff(EXIT_KERNEL_FAILURE)
}
