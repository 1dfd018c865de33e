//! Asks a server (slot 0, an echo instance) to crash while our call is
//! outstanding: the call must fail with PeerDead, later calls too, while
//! another server (slot 1) keeps answering. Slot 2 = judge.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::{CallError, Endpoint};
use userlib::{println, sys, Error};

userlib::entry!(main);

fn main() {
    let (victim, survivor, judge) = (Endpoint(0), Endpoint(1), Endpoint(2));
    // Let every other process run for a few timer ticks first, so the
    // crashers of the fault test have died before the verdict ends the test.
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + 3 {
        sys::yield_now();
    }
    let before = victim
        .call(&EchoRequest::Ping { value: 1 }, &[])
        .map(|r| r.words[0]);
    let crash = victim.call(&EchoRequest::Crash {}, &[]).map(|r| r.words[0]);
    let after = victim
        .call(&EchoRequest::Ping { value: 1 }, &[])
        .map(|r| r.words[0]);
    let other = survivor
        .call(&EchoRequest::Ping { value: 41 }, &[])
        .map(|r| r.words[0]);
    println!(
        "faultclient: before {:?}, crash call {:?}, after {:?}, other server {:?}",
        before, crash, after, other
    );
    let pass = before == Ok(2)
        && crash == Err(CallError::Kernel(Error::PeerDead))
        && after == Err(CallError::Kernel(Error::PeerDead))
        && other == Ok(42);
    report(judge, "faultclient", pass, 0, 1);
}
