//! Calls `echo` N times with Ping and checks every reply: slot 0 = echo,
//! slot 1 = judge. Several instances may run at once (boot argument = how
//! many), so calls also queue at the server.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::Endpoint;
use userlib::println;

userlib::entry!(main);

const ROUNDS: u64 = 10_000;

fn main() {
    let (echo, judge) = (Endpoint(0), Endpoint(1));
    let mut ok = 0u64;
    for i in 0..ROUNDS {
        match echo.call(&EchoRequest::Ping { value: i * 3 }, &[]) {
            Ok(r) if r.words[0] == i * 3 + 1 => ok += 1,
            other => println!("pingpong: round {} got {:?}", i, other.map(|r| r.words[0])),
        }
    }
    println!("pingpong: sent {} received {} matching replies", ROUNDS, ok);
    // `arg=` says how many pingpong clients the test runs (each reports).
    report(
        judge,
        "pingpong",
        ok == ROUNDS,
        ok,
        userlib::boot_arg().max(1),
    );
}
