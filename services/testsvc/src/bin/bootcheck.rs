//! Boot test: slot 0 is the judge; pings every server in slots 1, 2, ...
//! (up to the first empty slot) and passes when all of them answer.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::{CallError, Endpoint};
use userlib::{println, Error};

userlib::entry!(main);

fn main() {
    let judge = Endpoint(0);
    let (mut slot, mut answered) = (1u64, 0u64);
    loop {
        match Endpoint(slot).call(&EchoRequest::Ping { value: slot }, &[]) {
            Err(CallError::Kernel(Error::BadCap)) => break,
            Ok(r) if r.words[0] == slot + 1 => answered += 1,
            other => println!(
                "bootcheck: service in slot {} answered {:?}",
                slot,
                other.map(|r| r.words[0])
            ),
        }
        slot += 1;
    }
    let services = slot - 1;
    println!("bootcheck: {}/{} services answered", answered, services);
    report(
        judge,
        "bootcheck",
        answered == services && services > 0,
        answered,
        1,
    );
}
