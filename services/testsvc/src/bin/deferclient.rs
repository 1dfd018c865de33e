//! Calls the `defer` server (slot 0) and checks that its reply carries its
//! own value and badge (slot 0's badge is the client number). Slot 1 = judge.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::ipc::Endpoint;
use userlib::println;

userlib::entry!(main);

fn main() {
    let (server, judge) = (Endpoint(0), Endpoint(1));
    let me = userlib::sys::rdtsc() & 0xFFFF;
    let r = server.call(&EchoRequest::Ping { value: me }, &[]);
    println!(
        "deferclient: sent {}, reply {:?}",
        me,
        r.map(|r| (r.words[0], r.words[1]))
    );
    let pass = matches!(r, Ok(r) if r.words[0] == me + 1 && r.words[1] != 0);
    report(judge, "deferclient", pass, me, 2);
}
