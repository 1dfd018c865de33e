//! A client of the `mortal` server (slot 0).
//!
//! - `arg=0`: one ping, then exits (the `death` test's badge 7).
//! - `arg=1`: one ping, then a page fault (badge 9).
//! - `arg=3`: a `Hold` call, which the server never answers; the `killer`
//!   ends us while it is open (badge 11).
//! - `arg=2` (`restart` test): 20 pings; a call that fails with `PeerDead`
//!   (the server died holding it) is retried until the restarted server
//!   answers (within 10 s); reports to the judge (slot 1) whether every
//!   answer was right, at least one call failed, the answers after it came
//!   from incarnation 1, and how long the recovery took.
#![no_std]
#![no_main]

use testsvc::{report, MortalRequest};
use userlib::ipc::{CallError, Endpoint};
use userlib::{println, sys, Error};

userlib::entry!(main);

fn ping(value: u64) -> Result<(u64, u64), CallError> {
    Endpoint(0)
        .call(&MortalRequest::Ping { value }, &[])
        .map(|r| (r.words[0], r.words[1]))
}

fn main() {
    match userlib::boot_arg() {
        0 => {
            println!("mortalclient: ping {:?}, exiting", ping(1));
        }
        1 => {
            println!("mortalclient: ping {:?}, faulting", ping(1));
            // Safety: a deliberate write to the null page; the kernel ends us.
            unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>().wrapping_add(1), 1) };
        }
        3 => {
            let r = Endpoint(0).call(&MortalRequest::Hold {}, &[]);
            println!("mortalclient: the held call returned {r:?}, which it must not");
        }
        _ => restart_client(),
    }
}

fn restart_client() {
    let hz = sys::ticks().1;
    let (mut failed, mut wrong, mut last_incarnation, mut recovery) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..20u64 {
        let start = sys::ticks().0;
        let answer = loop {
            match ping(i) {
                Err(CallError::Kernel(Error::PeerDead)) if sys::ticks().0 < start + 10 * hz => {
                    failed += 1;
                    sys::yield_now();
                }
                other => break other,
            }
        };
        match answer {
            Ok((v, inc)) if v == i + 1 => last_incarnation = inc,
            other => {
                println!("mortalclient: ping {i}: {other:?}");
                wrong += 1;
            }
        }
        let took = sys::ticks().0 - start;
        if took > recovery {
            recovery = took;
        }
    }
    println!(
        "mortalclient: {failed} failed calls, {wrong} wrong answers, last incarnation {last_incarnation}, longest call {} ms",
        recovery * 1000 / hz
    );
    let pass = failed >= 1 && wrong == 0 && last_incarnation == 1;
    report(Endpoint(1), "mortalclient", pass, failed, 1);
}
