//! Protocols and helpers shared by the kernel's QEMU test programs.
//!
//! Each test boots a configuration (`scripts/boot/<test>.cfg`) of an `echo`
//! server, one or more test clients and a `judge`. Clients report to the
//! judge; the judge powers the machine off with `POWEROFF_TEST_PASS` once
//! every expected verdict passed, or `POWEROFF_TEST_FAIL` at the first failure.
#![no_std]

extern crate alloc;

pub mod membench;

use userlib::abi::protocol;
use userlib::ipc::Endpoint;
use userlib::println;

protocol! {
    /// What the `echo` test server understands.
    pub enum EchoRequest {
        /// Replies `value + 1`.
        Ping = 1 { value: u64 },
        /// Reads lease 0 (read) completely; replies (bytes read, checksum).
        Checksum = 2 {},
        /// Writes `len` bytes of the pattern seeded by `seed` into lease 0.
        Fill = 3 { seed: u64 },
        /// Ends the server with a page fault while the call is outstanding.
        Crash = 4 {},
        /// Replies immediately with nothing (benchmark).
        Null = 5 {},
        /// Reads lease 0 completely in 4 KiB pieces, computing nothing;
        /// replies the byte count (benchmark of the lease copy).
        Drain = 6 {},
    }
}

protocol! {
    /// What the `mortal` test server (death notices, restart) understands.
    pub enum MortalRequest {
        /// Replies `value + 1` and the server's incarnation.
        Ping = 1 { value: u64 },
        /// Never answered (until the caller dies): an open call.
        Hold = 2 {},
    }
}

protocol! {
    /// What the `broker` (capability transfer test) understands.
    pub enum BrokerRequest {
        GetEcho = 1 {},
        Session = 2 {},
        WhoAmI = 3 {},
        Signal = 4 {},
        /// Keep the notification capability the call carries (`CAP_KEEP`).
        Remember = 5 {},
        /// Notify every kept capability, drop them; replies how many.
        Poke = 6 {},
    }
}

protocol! {
    /// What the `judge` understands.
    pub enum JudgeRequest {
        /// One client's result; `expected` is how many verdicts the test has.
        Verdict = 1 { pass: bool, code: u64, expected: u64 },
    }
}

/// FNV-1a over `data`, continuing from `state` (start with `FNV_START`).
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;
pub fn fnv1a(mut state: u64, data: &[u8]) -> u64 {
    for &b in data {
        state ^= b as u64;
        state = state.wrapping_mul(0x100_0000_01b3);
    }
    state
}

/// Deterministic byte pattern: byte `i` of the stream seeded by `seed`.
pub fn pattern_byte(seed: u64, i: u64) -> u8 {
    let mut x = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 32) as u8
}

/// xorshift64* generator for the fuzzer and test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Reports a verdict to the judge (endpoint `judge`), logging it too.
pub fn report(judge: Endpoint, name: &str, pass: bool, code: u64, expected: u64) {
    println!(
        "{}: {} (code {:#x})",
        name,
        if pass { "PASS" } else { "FAIL" },
        code
    );
    if let Err(e) = judge.call(
        &JudgeRequest::Verdict {
            pass,
            code,
            expected,
        },
        &[],
    ) {
        println!("{}: reporting to the judge failed: {:?}", name, e);
    }
}
