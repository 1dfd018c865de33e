//! Hammers the kernel with seeded random syscalls (numbers and arguments),
//! then checks that IPC still works. Slot 0 = echo, 1 = judge.
//!
//! Skipped because they would end or stall this process rather than test the
//! kernel: EXIT, blocking RECV / REPLY_RECV, dropping slots 0..2, and console
//! writes from valid buffers (they would spray bytes on the test's serial log).
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest, Rng};
use userlib::abi::{recv_flags, sys};
use userlib::ipc::Endpoint;
use userlib::{println, Error};

userlib::entry!(main);

const CALLS: u64 = 50_000;
const SEED: u64 = 0xF022_u64;

static mut SCRATCH: [u8; 8192] = [0; 8192];

fn main() {
    let (echo, judge) = (Endpoint(0), Endpoint(1));
    // `arg=` picks another seed (and 10x the calls) for longer local runs.
    let (seed, calls) = match userlib::boot_arg() {
        0 => (SEED, CALLS),
        s => (s, CALLS * 10),
    };
    let mut rng = Rng(seed);
    // Random bytes in the scratch buffer: messages, leases and capability
    // slots that the kernel reads from it are random too.
    // Safety: single-threaded; nothing else refers to SCRATCH yet.
    let scratch_bytes = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    for chunk in scratch_bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let scratch = core::ptr::addr_of_mut!(SCRATCH) as u64;
    let code = main as *const () as u64;
    let mut counts = [0u64; 12];
    for _ in 0..calls {
        let n = match rng.next_u64() % 8 {
            0 => rng.next_u64(),
            _ => rng.next_u64() % (sys::COUNT + 3),
        };
        let mut args = [0u64; 6];
        for a in args.iter_mut() {
            *a = match rng.next_u64() % 10 {
                0 => rng.next_u64(),
                1 => rng.next_u64() % 80,
                2 => scratch + rng.next_u64() % 8192,
                3 => scratch,
                4 => code,
                5 => 0xFFFF_8000_0000_0000 + rng.next_u64() % (1 << 30),
                6 => 0x0000_7FFF_FFFF_FFFF - rng.next_u64() % 64,
                7 => u64::MAX - rng.next_u64() % 16,
                // Pages of the DMA region (the config grants `dma`), so
                // DMA_FREE / VIRT_TO_PHYS meet memory DMA_ALLOC handed out.
                8 => 0x0000_3000_0000_0000 + rng.next_u64() % 64 * 4096,
                _ => 0,
            };
        }
        match n {
            sys::EXIT => continue,
            sys::RECV => args[2] = recv_flags::NONBLOCKING,
            sys::REPLY_RECV => continue,
            sys::CAP_DROP if args[0] < 2 => continue,
            sys::CONSOLE_WRITE if args[0] >= scratch && args[0] < scratch + 8192 => continue,
            sys::CONSOLE_WRITE if args[0] == code => continue,
            _ => {}
        }
        let (rax, _) = userlib::sys::syscall(n, args);
        let slot = if rax == 0 { 0 } else { (rax as usize).min(11) };
        counts[slot] += 1;
    }
    println!(
        "fuzzer: {} random syscalls done (seed {:#x}); results by code (0 = ok): {:?}",
        calls, seed, counts
    );
    let alive = echo
        .call(&EchoRequest::Ping { value: 7 }, &[])
        .map(|r| r.words[0]);
    println!("fuzzer: echo still answers: {:?}", alive);
    // Some calls must have succeeded and unknown numbers must have been refused.
    let refused_unknown = counts[Error::BadSyscall as usize] > 0;
    report(
        judge,
        "fuzzer",
        alive == Ok(8) && counts[0] > 0 && refused_unknown,
        calls,
        1,
    );
}
