//! The `net` QEMU test's check of the socket protocol's refusals over IPC
//! (the host tests cover the same rules in `netstack`; this proves the
//! service carries them): handles it was not given, a port in use, port 0,
//! a non-blocking accept with nothing to accept, a read that lends no room,
//! a closed (stale) handle, and `Info`. It runs beside `netecho` with its
//! own badge and prints one `netcheck: ok ...` line per check.
#![no_std]
#![no_main]

use net_api::{status, Net, SocketError};
use userlib::ipc::Endpoint;
use userlib::println;

userlib::entry!(main);

fn check(what: &str, got: Result<u64, SocketError>, want: u64) -> bool {
    let ok = got == Err(SocketError::Status(want));
    if ok {
        println!("netcheck: ok {what} -> {}", status::name(want));
    } else {
        println!("netcheck: FAILED {what}: got {got:?}, want status {want}");
    }
    ok
}

fn main() {
    let net = Net::new(Endpoint(0));
    let mut ok = true;
    // Handles with low slot numbers: netecho's if it listened already
    // (handles are per client), else none at all.
    for h in 0..4u64 {
        ok &= check(
            "accept on another client's handle",
            net.accept_with(h, Net::NONBLOCK).map(|a| a.conn),
            status::BAD_HANDLE,
        );
    }
    ok &= check("listen on port 0", net.listen(0, 1), status::BAD_PORT);
    let l = match net.listen(7, 2) {
        Ok(l) => l,
        Err(e) => {
            println!("netcheck: FAILED listen on port 7: {e}");
            return;
        }
    };
    ok &= check(
        "listen on a port in use",
        net.listen(7, 1),
        status::PORT_IN_USE,
    );
    ok &= check(
        "non-blocking accept with nothing to accept",
        net.accept_with(l, Net::NONBLOCK).map(|a| a.conn),
        status::WOULD_BLOCK,
    );
    ok &= check(
        "read on a listener",
        net.read_with(l, &mut [0u8; 16], 0).map(|n| n as u64),
        status::BAD_HANDLE,
    );
    ok &= check(
        "read lending no room",
        net.read_with(l, &mut [], 0).map(|n| n as u64),
        status::BAD_LEASE,
    );
    ok &= net.close(l).is_ok();
    ok &= check(
        "accept on a closed handle",
        net.accept_with(l, Net::NONBLOCK).map(|a| a.conn),
        status::BAD_HANDLE,
    );
    ok &= check("close twice", net.close(l).map(|_| 0), status::BAD_HANDLE);
    match net.info() {
        Ok(w) if w[0] == u32::from_be_bytes([10, 0, 2, 15]) as u64 && w[2] >= 1 => {
            println!("netcheck: ok info: 10.0.2.15, {} listener(s)", w[2])
        }
        other => {
            println!("netcheck: FAILED info: {other:?}");
            ok = false;
        }
    }
    println!(
        "netcheck: {}",
        if ok { "all checks passed" } else { "FAILED" }
    );
}
