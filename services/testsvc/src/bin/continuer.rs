//! The reply-and-continue test (`smp-reply-continues`, scripts/
//! continue_tests.py; test-continue.cfg). One binary, two roles (boot
//! argument):
//!
//! - 0, the server: answers each call with `reply_and_continue` and then
//!   computes, never blocking, until the client's next call is queued
//!   (polled with a non-blocking receive between slices of work). The
//!   client can make that call only if some CPU ran it while the server
//!   kept its own: on two CPUs the reply's wake-up IPI gets the halted one
//!   to run it at once (the kernel counts those IPIs: `reply_wakes` in its
//!   stats line, which the test checks); on one CPU the server's tick
//!   does, a quantum later. After `ROUNDS` such calls it reports to the
//!   judge (slot 0).
//! - 1, the client: calls the server (slot 0) `ROUNDS + 1` times, each
//!   reply checked (the server's count), then reports to the judge
//!   (slot 1).
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::{recv, try_recv, Endpoint, Incoming};
use userlib::{println, Error, Message};

userlib::entry!(main);

const ROUNDS: u64 = 20;
/// Polls of a non-blocking receive before the server gives up on a call
/// (each after a slice of work): far more than any scheduling delay.
const MAX_SLICES: u64 = 50_000_000;

fn main() {
    if userlib::boot_arg() == 0 {
        server()
    } else {
        client()
    }
}

/// A slice of pure computation (no syscall, no memory traffic).
fn work(mut x: u64) -> u64 {
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn server() {
    let judge = Endpoint(0);
    let mut next = recv(0);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut slices_each = [0u64; ROUNDS as usize];
    for round in 0..ROUNDS {
        let Ok(Incoming::Call { token, .. }) = next else {
            println!("continuer: round {round}: no call ({:?})", next.err());
            report(judge, "continuer", false, round, 2);
            return;
        };
        let _ = token.reply_and_continue(&Message::new(0, &[round]));
        let mut slices = 0u64;
        next = loop {
            x = work(x);
            slices += 1;
            match try_recv(0) {
                Err(Error::WouldBlock) if slices < MAX_SLICES => continue,
                other => break other,
            }
        };
        slices_each[round as usize] = slices;
    }
    // The client's last call: answered plainly.
    let pass = match next {
        Ok(Incoming::Call { token, .. }) => token.reply_ok(&[ROUNDS]).is_ok(),
        _ => false,
    };
    println!(
        "continuer: {ROUNDS} calls each found queued while the server computed \
         (never blocked; work slices before each: {:?}; {x:#x})",
        slices_each
    );
    report(judge, "continuer", pass, ROUNDS, 2);
}

fn client() {
    let (server, judge) = (Endpoint(0), Endpoint(1));
    let mut pass = true;
    for i in 0..=ROUNDS {
        let r = server.call(&EchoRequest::Ping { value: i }, &[]);
        if !matches!(r, Ok(ref r) if r.words[0] == i) {
            println!("continuer client: call {i}: {:?}", r.map(|r| r.words[0]));
            pass = false;
            break;
        }
    }
    report(judge, "continuer-client", pass, ROUNDS, 2);
}
