//! IPC benchmark: median cycles (rdtsc) of null call/reply round trips to
//! `echo` (slot 0) and of the null syscall. Slot 1 = judge.
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
    println!("ipc_roundtrip_cycles: {} cycles", median(ipc));
    println!("syscall_null_cycles: {} cycles", median(null));
    report(judge, "bench", failures == 0, ROUNDS as u64, 1);
}
