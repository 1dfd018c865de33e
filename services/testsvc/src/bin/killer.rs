//! Fault injection for the `death` test: once the process in slot `arg`
//! (which it supervises, `supervise=`) has had 20 ticks to make its call,
//! ends it with `KILL`, and checks that killing it again and killing a
//! slot it does not supervise are refused; reports to the judge (slot 0).
#![no_std]
#![no_main]

use userlib::{println, sys, Error};

userlib::entry!(main);

fn main() {
    let victim = userlib::boot_arg();
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + 20 {
        sys::yield_now();
    }
    let first = sys::kill(victim);
    let again = sys::kill(victim);
    let other = sys::kill(0);
    println!("killer: KILL of slot {victim}: {first:?}, again: {again:?}, unsupervised slot 0: {other:?}");
    let pass =
        first.is_ok() && again == Err(Error::BadArgument) && other == Err(Error::NotPermitted);
    testsvc::report(userlib::ipc::Endpoint(0), "killer", pass, 0, 2);
}
