//! Calls `drvtest` (slot 0) while it waits for interrupts with calls held
//! back: the reply must come after all five interrupts. Slot 1 = judge.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::Endpoint;
use userlib::println;

userlib::entry!(main);

fn main() {
    let (driver, judge) = (Endpoint(0), Endpoint(1));
    let r = driver
        .call(&EchoRequest::Ping { value: 0 }, &[])
        .map(|r| r.words[0]);
    println!("drvclient: driver answered after {:?} interrupts", r);
    report(judge, "drvclient", r == Ok(5), 0, 2);
}
