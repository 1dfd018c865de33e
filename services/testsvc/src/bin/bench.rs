//! IPC benchmark: median cycles (rdtsc) of null call/reply round trips to
//! `echo` (slot 0), of the null syscall, and of the server reading a 1 MiB
//! lease (per KiB, whole call included). Slot 1 = judge.
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
    for _ in 0..ROUNDS {
        let t0 = sys::rdtsc();
        if sys::call(0, &request, &mut reply).is_err() {
            failures += 1;
        }
        ipc.push(sys::rdtsc() - t0);
    }
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
    println!("ipc_roundtrip_cycles: {} cycles", median(ipc));
    println!("syscall_null_cycles: {} cycles", median(null));
    println!(
        "lease_read_cycles_per_kib: {} cycles",
        median(bulk) / (LEASE_BYTES as u64 / 1024)
    );
    report(judge, "bench", failures == 0, ROUNDS as u64, 1);
}
