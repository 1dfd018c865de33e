//! Raw syscalls and one thin wrapper per call (`kernel/SYSCALLS.md`).

use abi::{sys, Error, Message};
use core::arch::asm;

/// Makes syscall `n`; returns `rax` and the result registers
/// (`rdi rsi rdx r10`).
#[inline(always)]
pub fn syscall(n: u64, args: [u64; 6]) -> (u64, [u64; 4]) {
    let (rax, r0, r1, r2, r3);
    // Safety: the kernel preserves every register but rax, rdi, rsi, rdx,
    // r10 (results) and rcx, r11 (clobbered by syscall); it reads user
    // memory only through checked copies, so no Rust invariant is at stake.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => rax,
            inlateout("rdi") args[0] => r0,
            inlateout("rsi") args[1] => r1,
            inlateout("rdx") args[2] => r2,
            inlateout("r10") args[3] => r3,
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (rax, [r0, r1, r2, r3])
}

fn result(r: (u64, [u64; 4])) -> Result<[u64; 4], Error> {
    match r.0 {
        0 => Ok(r.1),
        code => Err(Error::from_code(code).unwrap_or(Error::BadSyscall)),
    }
}

pub fn call_raw(n: u64, args: [u64; 6]) -> Result<[u64; 4], Error> {
    result(syscall(n, args))
}

pub fn exit(code: u64) -> ! {
    syscall(sys::EXIT, [code, 0, 0, 0, 0, 0]);
    // EXIT does not return to a live process.
    loop {
        core::hint::spin_loop();
    }
}

pub fn yield_now() {
    syscall(sys::YIELD, [0; 6]);
}

pub fn nop() -> Result<(), Error> {
    call_raw(sys::NOP, [0; 6]).map(|_| ())
}

/// Prints all of `bytes`: the kernel prints at most
/// `abi::CONSOLE_WRITE_MAX` bytes per call, so longer writes take several.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        let r = call_raw(
            sys::CONSOLE_WRITE,
            [rest.as_ptr() as u64, rest.len() as u64, 0, 0, 0, 0],
        )?;
        if r[0] == 0 {
            break;
        }
        done += r[0] as usize;
    }
    Ok(done)
}

/// Reads buffered serial input (0 bytes when none is waiting).
pub fn console_read(buf: &mut [u8]) -> Result<usize, Error> {
    call_raw(
        sys::CONSOLE_READ,
        [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
    )
    .map(|r| r[0] as usize)
}

/// Calls the endpoint in `cap` and waits for the reply.
pub fn call(cap: u64, msg: &Message, reply: &mut Message) -> Result<(), Error> {
    let args = [
        cap,
        msg as *const Message as u64,
        reply as *mut Message as u64,
        0,
        0,
        0,
    ];
    call_raw(sys::CALL, args).map(|_| ())
}

/// Waits for a message or notification in `mask`. Returns (kind, badge or
/// bits, token).
pub fn recv(buf: &mut Message, mask: u64, flags: u64) -> Result<(u64, u64, u64), Error> {
    call_raw(
        sys::RECV,
        [buf as *mut Message as u64, mask, flags, 0, 0, 0],
    )
    .map(|r| (r[0], r[1], r[2]))
}

pub fn reply(token: u64, msg: &Message) -> Result<(), Error> {
    reply_flagged(token, msg, 0)
}

/// `REPLY` with `abi::reply_flags` (`CONTINUES`: the caller keeps
/// computing after it).
pub fn reply_flagged(token: u64, msg: &Message, flags: u64) -> Result<(), Error> {
    call_raw(
        sys::REPLY,
        [token, msg as *const Message as u64, flags, 0, 0, 0],
    )
    .map(|_| ())
}

pub fn reply_recv(
    token: u64,
    reply: &Message,
    buf: &mut Message,
    mask: u64,
) -> Result<(u64, u64, u64), Error> {
    let args = [
        token,
        reply as *const Message as u64,
        buf as *mut Message as u64,
        mask,
        0,
        0,
    ];
    call_raw(sys::REPLY_RECV, args).map(|r| (r[0], r[1], r[2]))
}

pub fn lease_read(token: u64, index: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
    let args = [
        token,
        index,
        offset,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        0,
    ];
    call_raw(sys::LEASE_READ, args).map(|r| r[0] as usize)
}

pub fn lease_write(token: u64, index: u64, offset: u64, data: &[u8]) -> Result<usize, Error> {
    let args = [
        token,
        index,
        offset,
        data.as_ptr() as u64,
        data.len() as u64,
        0,
    ];
    call_raw(sys::LEASE_WRITE, args).map(|r| r[0] as usize)
}

/// Keeps the capability a call brought (`Message::cap` of the received
/// message) beyond the reply; otherwise the kernel drops it at the reply.
pub fn cap_keep(slot: u64) -> Result<(), Error> {
    call_raw(sys::CAP_KEEP, [slot, 0, 0, 0, 0, 0]).map(|_| ())
}

pub fn notify(cap: u64) -> Result<(), Error> {
    call_raw(sys::NOTIFY, [cap, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Maps `len` bytes (rounded up to pages) of zeroed memory; returns
/// (address, size).
pub fn mem_alloc(len: u64) -> Result<(u64, u64), Error> {
    call_raw(sys::MEM_ALLOC, [len, 0, 0, 0, 0, 0]).map(|r| (r[0], r[1]))
}

pub fn cap_mint(kind: u64, value: u64) -> Result<u64, Error> {
    call_raw(sys::CAP_MINT, [kind, value, 0, 0, 0, 0]).map(|r| r[0])
}

pub fn cap_drop(slot: u64) -> Result<(), Error> {
    call_raw(sys::CAP_DROP, [slot, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Stops the machine (needs the `poweroff` grant). See `abi::POWEROFF_*`.
pub fn poweroff(code: u64) -> Error {
    match call_raw(sys::POWEROFF, [code, 0, 0, 0, 0, 0]) {
        Ok(_) => Error::BadSyscall,
        Err(e) => e,
    }
}

/// (timer ticks since boot, ticks per second).
pub fn ticks() -> (u64, u64) {
    call_raw(sys::TICKS, [0; 6])
        .map(|r| (r[0], r[1]))
        .unwrap_or((0, 1))
}

/// Seconds since the Unix epoch (UTC): the RTC's date at boot plus the
/// ticks since; `None` when the RTC gave no valid date.
pub fn unix_time() -> Option<u64> {
    let r = call_raw(sys::TICKS, [0; 6]).ok()?;
    let (ticks, hz, boot) = (r[0], r[1].max(1), r[2]);
    (boot != 0).then(|| boot + ticks / hz)
}

/// The CPU's time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // Safety: rdtsc only reads the counter.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    ((hi as u64) << 32) | lo as u64
}

/// Maps a granted device window uncached; returns the address of `phys`.
pub fn mmio_map(phys: u64, len: u64) -> Result<u64, Error> {
    call_raw(sys::MMIO_MAP, [phys, len, 0, 0, 0, 0]).map(|r| r[0])
}

/// Physically contiguous zeroed DMA memory: (virtual, physical, size).
pub fn dma_alloc(len: u64) -> Result<(u64, u64, u64), Error> {
    call_raw(sys::DMA_ALLOC, [len, 0, 0, 0, 0, 0]).map(|r| (r[0], r[1], r[2]))
}

/// Routes interrupt line `irq` to this process as notification `bits`.
pub fn irq_bind(irq: u64, bits: u64) -> Result<(), Error> {
    call_raw(sys::IRQ_BIND, [irq, bits, 0, 0, 0, 0]).map(|_| ())
}

/// Re-enables line `irq` after the device was served.
pub fn irq_ack(irq: u64) -> Result<(), Error> {
    call_raw(sys::IRQ_ACK, [irq, 0, 0, 0, 0, 0]).map(|_| ())
}

pub fn port_in(port: u16, width: u64) -> Result<u64, Error> {
    call_raw(sys::PORT_IN, [port as u64, width, 0, 0, 0, 0]).map(|r| r[0])
}

pub fn port_out(port: u16, width: u64, value: u64) -> Result<(), Error> {
    call_raw(sys::PORT_OUT, [port as u64, width, value, 0, 0, 0]).map(|_| ())
}

/// Physical address of this process's user address `vaddr` (needs `dma`).
pub fn virt_to_phys(vaddr: u64) -> Result<u64, Error> {
    call_raw(sys::VIRT_TO_PHYS, [vaddr, 0, 0, 0, 0, 0]).map(|r| r[0])
}

/// Returns `len` bytes (page-rounded) of DMA memory at `vaddr` (from
/// `dma_alloc`) to the kernel. The device must no longer use it.
pub fn dma_free(vaddr: u64, len: u64) -> Result<(), Error> {
    call_raw(sys::DMA_FREE, [vaddr, len, 0, 0, 0, 0]).map(|_| ())
}

/// Physical address of byte `offset` of lease `index` of the caller `token`
/// names, and how many bytes from there are physically contiguous (capped
/// at the lease end and 4 MiB). `access` is `abi::lease::READ` (the device will read it) or
/// `WRITE`. Needs `dma`.
pub fn lease_phys(token: u64, index: u64, offset: u64, access: u64) -> Result<(u64, u64), Error> {
    call_raw(sys::LEASE_PHYS, [token, index, offset, access, 0, 0]).map(|r| (r[0], r[1]))
}

/// Asks to be told of deaths: the kernel posts `bits` whenever a death
/// notice is queued for this process (0 stops it). See `death_next`.
pub fn death_watch(bits: u64) -> Result<(), Error> {
    call_raw(sys::DEATH_WATCH, [bits, 0, 0, 0, 0, 0]).map(|_| ())
}

/// A death notice: a client's badge (`abi::death_kind::CLIENT`) or a
/// supervised process's slot (`WATCHED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeathNotice {
    pub kind: u64,
    pub value: u64,
    /// Notices dropped (queue full) before this one.
    pub lost: u64,
}

/// The oldest waiting death notice; `Err(WouldBlock)` when there is none.
pub fn death_next() -> Result<DeathNotice, Error> {
    call_raw(sys::DEATH_NEXT, [0; 6]).map(|r| DeathNotice {
        kind: r[0],
        value: r[1],
        lost: r[2],
    })
}

/// Starts the dead process in `slot` again from its boot-image entry (only
/// for its supervisor, `supervise=`); returns its new incarnation.
pub fn restart(slot: u64) -> Result<u64, Error> {
    call_raw(sys::RESTART, [slot, 0, 0, 0, 0, 0]).map(|r| r[0])
}

/// Ends the process in `slot` (only for its supervisor, `supervise=`), as
/// a fault would.
pub fn kill(slot: u64) -> Result<(), Error> {
    call_raw(sys::KILL, [slot, 0, 0, 0, 0, 0]).map(|_| ())
}

/// (this process's slot, its incarnation: 0 at boot, +1 per restart).
pub fn whoami() -> (u64, u64) {
    call_raw(sys::WHOAMI, [0; 6])
        .map(|r| (r[0], r[1]))
        .unwrap_or((0, 0))
}

/// TSC cycles the kernel has had this process's slot scheduled on the CPU
/// (its code and its syscalls, not the time other processes or the idle
/// loop ran): what "own work" means. Costs one syscall.
pub fn cpu_time() -> u64 {
    call_raw(sys::CPU_TIME, [0; 6]).map(|r| r[0]).unwrap_or(0)
}

/// Where the CPU's time went, as the kernel accounts it (`CPU_TIMES`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    /// Slot i's cycles and name at index i (the first `slots`, at most
    /// `MAX_SLOTS`).
    pub procs: [abi::CpuTime; CpuTimes::MAX_SLOTS],
    pub slots: usize,
    /// Cycles with nothing runnable (`hlt`).
    pub idle: u64,
    /// Cycles handling device interrupts (the timer's included).
    pub interrupts: u64,
    /// The TSC at the reading: the accounts add up to it, less the boot.
    pub tsc: u64,
}

impl CpuTimes {
    /// The kernel's limit on processes (`kernel_logic::bootimg::MAX_PROCS`).
    pub const MAX_SLOTS: usize = 32;

    /// Every slot's scheduled cycles, idle and interrupt cycles, now.
    pub fn read() -> Result<CpuTimes, Error> {
        let mut t = CpuTimes::default();
        let r = call_raw(
            sys::CPU_TIMES,
            [
                t.procs.as_mut_ptr() as u64,
                CpuTimes::MAX_SLOTS as u64,
                0,
                0,
                0,
                0,
            ],
        )?;
        t.slots = (r[0] as usize).min(CpuTimes::MAX_SLOTS);
        t.idle = r[1];
        t.interrupts = r[2];
        t.tsc = r[3];
        Ok(t)
    }

    /// Where `wall` cycles went between `start` and this reading, as text
    /// for a bench line: " NAME M (P.P%)" per process with a share (or at
    /// least `min_cycles`), then idle and interrupts; and the sum of every
    /// account's cycles, which adds up to the wall.
    pub fn shares_since(
        &self,
        start: &CpuTimes,
        wall: u64,
        min_cycles: u64,
    ) -> (alloc::string::String, u64) {
        use core::fmt::Write as _;
        let mut line = alloc::string::String::new();
        let mut sum = 0u64;
        let mut part = |who: &str, cycles: u64| {
            sum = sum.wrapping_add(cycles);
            let pm = permille(cycles, wall);
            if cycles >= min_cycles || pm > 0 {
                let _ = write!(
                    line,
                    " {who} {} ({}.{}%)",
                    cycles / 1_000_000,
                    pm / 10,
                    pm % 10
                );
            }
        };
        for (a, b) in start.procs[..start.slots]
            .iter()
            .zip(&self.procs[..self.slots])
        {
            part(b.name(), b.cycles.wrapping_sub(a.cycles));
        }
        part("idle", self.idle.wrapping_sub(start.idle));
        part("interrupts", self.interrupts.wrapping_sub(start.interrupts));
        (line, sum)
    }

    /// All accounted cycles (processes, idle, interrupts).
    pub fn total(&self) -> u64 {
        self.procs[..self.slots]
            .iter()
            .fold(self.idle.wrapping_add(self.interrupts), |a, p| {
                a.wrapping_add(p.cycles)
            })
    }
}

/// `part` of `whole` in thousandths (0 for an empty whole).
pub fn permille(part: u64, whole: u64) -> u64 {
    (part as u128 * 1000 / (whole as u128).max(1)) as u64
}
