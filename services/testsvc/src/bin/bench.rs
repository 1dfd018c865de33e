//! IPC benchmark: median cycles (rdtsc) of null call/reply round trips to
//! `echo` (slot 0), of the null syscall, and of the server reading a 1 MiB
//! lease (per KiB, whole call included), and the process's own 4 KiB
//! `memcpy`/`memset` (with the variants of `testsvc::membench`). Slot 1 = judge.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use testsvc::{report, EchoRequest};
use userlib::abi::proto::Wire;
use userlib::abi::Message;
use userlib::{println, sys};

userlib::entry!(main);

const ROUNDS: usize = 20_000;
const LEASE_BYTES: usize = 1 << 20;
const LEASE_ROUNDS: usize = 21;

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let judge = userlib::ipc::Endpoint(1);
    let request = EchoRequest::Null {}.to_message();
    let mut reply = Message::default();
    let mut ipc = Vec::with_capacity(ROUNDS);
    let mut failures = 0;
    let before = sys::CpuTimes::read();
    for _ in 0..ROUNDS {
        let t0 = sys::rdtsc();
        if sys::call(0, &request, &mut reply).is_err() {
            failures += 1;
        }
        ipc.push(sys::rdtsc() - t0);
    }
    let after = sys::CpuTimes::read();
    let mut null = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t0 = sys::rdtsc();
        let _ = sys::nop();
        null.push(sys::rdtsc() - t0);
    }
    // Bulk: the server reads a 1 MiB lease in 4 KiB pieces (LEASE_READ) and
    // does nothing with the bytes.
    let data = alloc::vec![0x5Au8; LEASE_BYTES];
    let mut bulk = Vec::with_capacity(LEASE_ROUNDS);
    let lease_request = EchoRequest::Drain {};
    for _ in 0..LEASE_ROUNDS {
        let t0 = sys::rdtsc();
        if userlib::ipc::Endpoint(0)
            .call(&lease_request, &[userlib::ipc::lend(&data)])
            .is_err()
        {
            failures += 1;
        }
        bulk.push(sys::rdtsc() - t0);
    }
    // Bulk copies and fills inside this process (testsvc::membench).
    let mem = testsvc::membench::run();
    println!("guest_copy_4k_cycles: {} cycles", mem.copy_4k);
    println!(
        "guest_copy_4k_same_tlb_entry_cycles: {} cycles",
        mem.copy_4k_same_entry
    );
    println!("guest_fill_4k_cycles: {} cycles", mem.fill_4k);
    println!("ipc_roundtrip_cycles: {} cycles", median(ipc));
    if let (Ok(a), Ok(b)) = (before, after) {
        split(&a, &b);
    }
    println!("syscall_null_cycles: {} cycles", median(null));
    println!(
        "lease_read_cycles_per_kib: {} cycles",
        median(bulk) / (LEASE_BYTES as u64 / 1024)
    );
    report(judge, "bench", failures == 0, ROUNDS as u64, 1);
}

/// Where the round trips' cycles went, per round trip, from the kernel's
/// CPU accounts (each side's user code and its syscalls, idle, interrupts;
/// they add up to the wall cycles of the loop). Means, so a loaded host's
/// stalls are in them: not a figure line (the medians above are).
fn split(a: &sys::CpuTimes, b: &sys::CpuTimes) {
    let per = |x: u64, y: u64| y.wrapping_sub(x) / ROUNDS as u64;
    let mut line = alloc::string::String::new();
    for (x, y) in a.procs[..a.slots].iter().zip(&b.procs[..b.slots]) {
        let _ = core::fmt::Write::write_fmt(
            &mut line,
            format_args!(" {} {}", y.name(), per(x.cycles, y.cycles)),
        );
    }
    println!(
        "bench: per round trip, scheduled cycles:{line}, idle {}, interrupts {}; wall {}",
        per(a.idle, b.idle),
        per(a.interrupts, b.interrupts),
        per(a.tsc, b.tsc)
    );
}
