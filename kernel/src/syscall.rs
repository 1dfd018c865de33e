//! `syscall`/`sysret` set-up and the one syscall dispatch. Every call has the
//! same shape: number in `rax`, arguments in `rdi rsi rdx r10 r8 r9`; on
//! return `rax` is 0 or an `abi::Error` code and results are in
//! `rdi rsi rdx r10`. `kernel/SYSCALLS.md` documents each call.

use crate::memory::DirectMap;
use crate::process::{Kernel, Process, State};
use crate::serial;
use crate::usermem::{UserSlice, UserSliceMut};
use abi::{mint_kind, sys, Error};
use alloc::vec::Vec;
use kernel_logic::budget::MMIO_MAP_MAX;
use kernel_logic::caps::Cap;
use kernel_logic::layout::{page_ceil, PAGE_SIZE, USER_DMA_BASE, USER_MMIO_BASE};
use kernel_logic::paging::{
    self, CACHE_DISABLE, DEVICE, NO_EXECUTE, USER, WRITABLE, WRITE_THROUGH,
};
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

const IA32_STAR: u32 = 0xC000_0081;
const IA32_LSTAR: u32 = 0xC000_0082;
const IA32_FMASK: u32 = 0xC000_0084;

pub fn init() {
    // Safety: programming the syscall MSRs with the GDT layout of gdt.rs
    // (sysret: CS = 0x10 + 16 = 0x20|3, SS = 0x10 + 8 = 0x18|3; syscall:
    // CS 0x08, SS 0x10). FMASK clears IF, TF, DF and AC on entry.
    unsafe {
        Msr::new(IA32_STAR).write((0x10u64 << 48) | (0x08u64 << 32));
        Msr::new(IA32_LSTAR).write(crate::trap::syscall_entry as *const () as u64);
        Msr::new(IA32_FMASK).write(0x4_0700);
    }
}

type SysResult = Result<[u64; 4], Error>;

/// Largest single console read.
const CONSOLE_CHUNK: usize = 1024;

impl Kernel {
    /// Runs the syscall the current process made (its registers are saved in
    /// its frame). A process that is still runnable afterwards gets the
    /// result; a blocked one gets it when it is woken.
    pub fn syscall(&mut self) {
        let cur = self.current;
        let f = self.procs[cur].frame;
        let (a0, a1, a2, a3, a4) = (f.rdi, f.rsi, f.rdx, f.r10, f.r8);
        self.stats.syscalls += 1;
        let result: SysResult = match f.rax {
            sys::EXIT => {
                self.kill(cur, format_args!("exited with code {:#x}", a0));
                Ok([0; 4])
            }
            sys::YIELD => {
                self.cpus[self.cpu].need_resched = true;
                Ok([0; 4])
            }
            sys::NOP => Ok([0; 4]),
            sys::CONSOLE_WRITE => self.sys_console_write(a0, a1),
            sys::CONSOLE_READ => self.sys_console_read(a0, a1),
            sys::CALL => self.sys_call(a0, a1, a2),
            sys::RECV => self.sys_recv(a0, a1, a2),
            sys::REPLY => self.sys_reply(a0, a1, a2),
            sys::REPLY_RECV => self.sys_reply_recv(a0, a1, a2, a3),
            sys::LEASE_READ => self.sys_lease_copy(a0, a1, a2, a3, a4, false),
            sys::LEASE_WRITE => self.sys_lease_copy(a0, a1, a2, a3, a4, true),
            sys::LEASE_PHYS => self.sys_lease_phys(a0, a1, a2, a3),
            sys::NOTIFY => self.sys_notify(a0),
            sys::MEM_ALLOC => self.sys_mem_alloc(a0),
            sys::CAP_MINT => self.sys_cap_mint(a0, a1),
            sys::CAP_DROP => self.procs[cur]
                .caps
                .remove(a0)
                .map(|_| [0; 4])
                .map_err(Error::from),
            sys::CAP_KEEP => self.procs[cur]
                .caps
                .keep(a0)
                .map(|_| [0; 4])
                .map_err(Error::from),
            sys::POWEROFF => self.sys_poweroff(a0),
            sys::TICKS => Ok([
                self.ticks,
                crate::interrupts::TIMER_HZ as u64,
                crate::rtc::boot_unix(),
                0,
            ]),
            sys::MMIO_MAP => self.sys_mmio_map(a0, a1),
            sys::DMA_ALLOC => self.sys_dma_alloc(a0),
            sys::IRQ_BIND => self.sys_irq_bind(a0, a1),
            sys::IRQ_ACK => self.sys_irq_ack(a0),
            sys::PORT_IN => self.sys_port_in(a0, a1),
            sys::PORT_OUT => self.sys_port_out(a0, a1, a2),
            sys::VIRT_TO_PHYS => self.sys_virt_to_phys(a0),
            sys::DMA_FREE => self.sys_dma_free(a0, a1),
            sys::DEATH_WATCH => self.sys_death_watch(a0),
            sys::DEATH_NEXT => self.sys_death_next(),
            sys::RESTART => self.sys_restart(a0),
            sys::WHOAMI => self.sys_whoami(),
            sys::KILL => self.sys_kill(a0),
            sys::CPU_TIME => self.sys_cpu_time(),
            sys::CPU_TIMES => self.sys_cpu_times(a0, a1),
            _ => Err(Error::BadSyscall),
        };
        let p = &mut self.procs[cur];
        if p.state == State::Runnable {
            p.set_result(result);
        }
    }

    /// Prints up to `CONSOLE_WRITE_MAX` bytes and says how many: every
    /// process may print (each service logs through it), but one call holds
    /// interrupts off only for a bounded piece; the caller loops for more.
    fn sys_console_write(&mut self, addr: u64, len: u64) -> SysResult {
        let root = self.procs[self.current].root;
        let n = len.min(abi::CONSOLE_WRITE_MAX);
        // The piece is checked whole first: a bad byte in it prints nothing.
        let src = UserSlice::<u8>::new(addr, len)?.sub(0, n)?;
        let mut buf = [0u8; abi::CONSOLE_WRITE_MAX as usize];
        src.read_into(&mut DirectMap, root, &mut buf[..n as usize])?;
        serial::write_bytes(&buf[..n as usize]);
        Ok([n, 0, 0, 0])
    }

    fn sys_console_read(&mut self, addr: u64, len: u64) -> SysResult {
        let p = &self.procs[self.current];
        if !p.console {
            return Err(Error::NotPermitted);
        }
        let dst = UserSliceMut::<u8>::new(addr, len)?;
        // Checked before input is taken, so a bad buffer loses no input.
        dst.check(&mut DirectMap, p.root)?;
        let mut buf = [0u8; CONSOLE_CHUNK];
        let n = serial::read_input(&mut buf[..(len as usize).min(CONSOLE_CHUNK)]);
        dst.sub(0, n as u64)?
            .write_from(&mut DirectMap, p.root, &buf[..n])?;
        Ok([n as u64, 0, 0, 0])
    }

    fn sys_mem_alloc(&mut self, len: u64) -> SysResult {
        let p = &mut self.procs[self.current];
        let size = page_ceil(len).ok_or(Error::BadArgument)?;
        if size == 0 {
            return Err(Error::BadArgument);
        }
        if p.mem_used
            .checked_add(size)
            .is_none_or(|total| total > p.mem_limit)
        {
            return Err(Error::NoMemory);
        }
        let base = p.alloc_next;
        let mut off = 0;
        while off < size {
            let frame = crate::memory::alloc_zeroed_frame().ok_or(Error::NoMemory)?;
            if paging::map_4k(
                &mut crate::memory::DirectMap,
                p.root,
                base + off,
                frame,
                USER | WRITABLE | NO_EXECUTE,
            )
            .is_err()
            {
                crate::memory::free_frame(frame);
                return Err(Error::NoMemory);
            }
            // Counted page by page so a partial failure keeps the books right.
            p.mem_used += PAGE_SIZE;
            p.alloc_next += PAGE_SIZE;
            off += PAGE_SIZE;
        }
        p.mem_peak = p.mem_peak.max(p.mem_used);
        Ok([base, size, 0, 0])
    }

    /// Maps the granted device window `[phys, phys + len)` (page-rounded)
    /// uncached into the caller; returns the address of `phys`.
    fn sys_mmio_map(&mut self, phys: u64, len: u64) -> SysResult {
        let p = &mut self.procs[self.current];
        if !p.grants.mmio_allows(phys, len) {
            return Err(Error::NotPermitted);
        }
        let first = phys & !(PAGE_SIZE - 1);
        // Inside a granted window, which cannot wrap (checked at boot).
        let end = page_ceil(phys + len).ok_or(Error::BadArgument)?;
        let base = p.mmio_next;
        // Bounded so the page tables stay within the boot-time reservation.
        if base + (end - first) > USER_MMIO_BASE + MMIO_MAP_MAX {
            return Err(Error::NoMemory);
        }
        let flags = USER | WRITABLE | NO_EXECUTE | CACHE_DISABLE | WRITE_THROUGH | DEVICE;
        let mut off = 0;
        while first + off < end {
            paging::map_4k(
                &mut crate::memory::DirectMap,
                p.root,
                base + off,
                first + off,
                flags,
            )
            .map_err(|_| Error::NoMemory)?;
            off += PAGE_SIZE;
            p.mmio_next += PAGE_SIZE;
        }
        Ok([base + (phys - first), 0, 0, 0])
    }

    /// The calling process, if it holds the DMA grant, and `len` rounded up
    /// to whole pages (a DMA call's checks before it looks at memory).
    fn dma_caller(&mut self, len: u64) -> Result<(&mut Process, u64), Error> {
        let p = &mut self.procs[self.current];
        if !p.grants.dma {
            return Err(Error::NotPermitted);
        }
        let size = page_ceil(len)
            .filter(|&s| s > 0)
            .ok_or(Error::BadArgument)?;
        Ok((p, size))
    }

    /// Physically contiguous zeroed memory for device DMA; returns (virtual
    /// address, physical address, size).
    fn sys_dma_alloc(&mut self, len: u64) -> SysResult {
        let (p, size) = self.dma_caller(len)?;
        if p.mem_used
            .checked_add(size)
            .is_none_or(|total| total > p.mem_limit)
        {
            return Err(Error::NoMemory);
        }
        let frames = size / PAGE_SIZE;
        let phys = crate::memory::FRAMES
            .lock()
            .as_mut()
            .and_then(|fa| fa.alloc_contiguous(frames))
            .ok_or(Error::NoMemory)?;
        // Safety: the frames were just allocated to this process.
        unsafe { core::ptr::write_bytes(crate::memory::phys_to_virt(phys), 0, size as usize) };
        let base = p.dma_next;
        for i in 0..frames {
            let (va, pa) = (base + i * PAGE_SIZE, phys + i * PAGE_SIZE);
            if paging::map_4k(
                &mut crate::memory::DirectMap,
                p.root,
                va,
                pa,
                USER | WRITABLE | NO_EXECUTE,
            )
            .is_err()
            {
                // Unmapped frames of the run go back; mapped ones die with the process.
                for j in i..frames {
                    crate::memory::free_frame(phys + j * PAGE_SIZE);
                }
                return Err(Error::NoMemory);
            }
        }
        p.mem_used += size;
        p.mem_peak = p.mem_peak.max(p.mem_used);
        p.dma_next += size;
        Ok([base, phys, size, 0])
    }

    /// Returns DMA memory `[vaddr, vaddr + len)` (page-rounded, inside what
    /// `DMA_ALLOC` handed out) to the frame allocator. Every page is checked
    /// before any is freed, so a refused call changes nothing.
    fn sys_dma_free(&mut self, vaddr: u64, len: u64) -> SysResult {
        let (p, size) = self.dma_caller(len)?;
        let end = vaddr.checked_add(size).ok_or(Error::BadArgument)?;
        if !vaddr.is_multiple_of(PAGE_SIZE) || vaddr < USER_DMA_BASE || end > p.dma_next {
            return Err(Error::BadArgument);
        }
        let mut va = vaddr;
        while va < end {
            match paging::translate(&mut crate::memory::DirectMap, p.root, va) {
                Some(t) if t.flags & DEVICE == 0 => {}
                _ => return Err(Error::BadAddress),
            }
            va += PAGE_SIZE;
        }
        let mut va = vaddr;
        while va < end {
            if let Some(entry) = paging::unmap_4k(&mut crate::memory::DirectMap, p.root, va) {
                x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
                crate::memory::free_frame(entry & 0x000F_FFFF_FFFF_F000);
                p.mem_used = p.mem_used.saturating_sub(PAGE_SIZE);
            }
            va += PAGE_SIZE;
        }
        Ok([0; 4])
    }

    /// The physical address behind the caller's user address `vaddr` (for a
    /// DMA-capable driver handing its own buffers to a device, page by page).
    fn sys_virt_to_phys(&mut self, vaddr: u64) -> SysResult {
        let p = &self.procs[self.current];
        if !p.grants.dma {
            return Err(Error::NotPermitted);
        }
        let (paddr, _) = UserSlice::<u8>::one(vaddr)?.phys_run(&mut DirectMap, p.root, 1)?;
        Ok([paddr, 0, 0, 0])
    }

    /// Routes interrupt line `irq` to the caller as notification `bits` and
    /// unmasks it. The line is masked again each time it fires, until
    /// `IRQ_ACK`.
    fn sys_irq_bind(&mut self, irq: u64, bits: u64) -> SysResult {
        let cur = self.current;
        if !self.procs[cur].grants.irq_allowed(irq) {
            return Err(Error::NotPermitted);
        }
        if bits == 0 {
            return Err(Error::BadArgument);
        }
        // A line granted to two drivers belongs to the first that binds it
        // (until it dies: `kill` unbinds).
        if matches!(self.irq_owner[irq as usize], Some((owner, _)) if owner != cur) {
            return Err(Error::NotPermitted);
        }
        self.irq_owner[irq as usize] = Some((cur, bits));
        crate::interrupts::set_masked(irq as u8, false);
        Ok([0; 4])
    }

    fn sys_irq_ack(&mut self, irq: u64) -> SysResult {
        match self.irq_owner.get(irq as usize) {
            Some(Some((owner, _))) if *owner == self.current => {
                crate::interrupts::set_masked(irq as u8, false);
                Ok([0; 4])
            }
            _ => Err(Error::NotPermitted),
        }
    }

    /// Reads `width` (1, 2 or 4) bytes from a granted I/O port.
    fn sys_port_in(&mut self, port: u64, width: u64) -> SysResult {
        self.check_port(port, width)?;
        let port = port as u16;
        // Safety: the boot configuration granted this port to the caller and
        // the kernel does not use it (grants.rs excludes the kernel's ports).
        let value = unsafe {
            match width {
                1 => Port::<u8>::new(port).read() as u64,
                2 => Port::<u16>::new(port).read() as u64,
                _ => Port::<u32>::new(port).read() as u64,
            }
        };
        Ok([value, 0, 0, 0])
    }

    fn sys_port_out(&mut self, port: u64, width: u64, value: u64) -> SysResult {
        self.check_port(port, width)?;
        let port = port as u16;
        // Safety: as in `sys_port_in`.
        unsafe {
            match width {
                1 => Port::<u8>::new(port).write(value as u8),
                2 => Port::<u16>::new(port).write(value as u16),
                _ => Port::<u32>::new(port).write(value as u32),
            }
        }
        Ok([0; 4])
    }

    fn check_port(&self, port: u64, width: u64) -> Result<(), Error> {
        if !matches!(width, 1 | 2 | 4) {
            return Err(Error::BadArgument);
        }
        if !self.procs[self.current].grants.port_allows(port, width) {
            return Err(Error::NotPermitted);
        }
        Ok(())
    }

    fn sys_cap_mint(&mut self, kind: u64, value: u64) -> SysResult {
        let cur = self.current;
        let cap = match kind {
            mint_kind::ENDPOINT => Cap::Endpoint {
                server: cur,
                badge: value,
            },
            mint_kind::NOTIFICATION => Cap::Notification {
                target: cur,
                bits: value,
            },
            _ => return Err(Error::BadArgument),
        };
        Ok([self.procs[cur].caps.insert(cap)?, 0, 0, 0])
    }

    fn sys_poweroff(&mut self, code: u64) -> SysResult {
        if !self.procs[self.current].poweroff {
            return Err(Error::NotPermitted);
        }
        log::info!(
            "poweroff requested by {} (code {:#x})",
            self.procs[self.current].name,
            code
        );
        log::info!("kernel stats: {:?}, {} ticks", self.stats, self.ticks);
        self.charge(crate::cpuclock::Account::Process(self.current));
        let per_cpu = if self.cpus.len() > 1 {
            let each: Vec<u64> = self.cpus.iter().map(|c| c.idle / 1_000_000).collect();
            let wakes: Vec<(u64, u64)> = self
                .cpus
                .iter()
                .map(|c| (c.wakes_sent, c.wakes_taken))
                .collect();
            let waits: Vec<u64> = self.cpus.iter().map(|c| c.lock_wait / 1_000_000).collect();
            alloc::format!(
                " (summed over {} CPUs: {each:?}; wake-up IPIs sent, taken per CPU: {wakes:?}; \
                 Mcycles waiting for the kernel lock per CPU: {waits:?})",
                self.cpus.len()
            )
        } else {
            alloc::string::String::new()
        };
        log::info!(
            "cpu since boot (Mcycles scheduled, cpuclock.rs): idle {}{per_cpu}, interrupts {}",
            self.idle_cycles() / 1_000_000,
            self.clock.interrupts / 1_000_000
        );
        for p in &self.procs {
            log::info!(
                "memory of {}: peak {} KiB of its {} KiB (mem=); cpu {} Mcycles",
                p.name,
                p.mem_peak >> 10,
                p.mem_limit >> 10,
                p.cpu_cycles / 1_000_000
            );
        }
        crate::poweroff(code)
    }
}
