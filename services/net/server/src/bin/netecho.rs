//! The echo server of the `net` QEMU test and the `net_tcp_MBps` bench: one
//! process, one thread, many connections at once through `Poll` and
//! non-blocking calls. It listens on the port in its boot argument (default
//! 5000), echoes every byte of every connection back, and logs each
//! connection's byte count when the peer closes. Boot argument: the port
//! (low 16 bits) and, for the test, how many connections to serve before
//! powering off with PASS (bits 16..32); bit 32: the network going down
//! is a PASS (the `net-driver-dies` test).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use net_api::{Net, SocketError, POLL_MAX};
use userlib::ipc::Endpoint;
use userlib::println;

userlib::entry!(main);

struct Conn {
    handle: u64,
    bytes: u64,
}

fn main() {
    let net = Net::new(Endpoint(0));
    let arg = userlib::boot_arg();
    let port = match arg & 0xFFFF {
        0 => net_api::REGISTRY_PORT,
        p => p as u16,
    };
    // Power off (test PASS) after this many connections; 0 = never.
    let stop_after = (arg >> 16) & 0xFFFF;
    // The `net-driver-dies` test: the network going down is its PASS.
    let down_passes = arg & 1 << 32 != 0;
    let listener = match net.listen(port, 8) {
        Ok(h) => h,
        Err(e) => {
            println!("netecho: listen on {port} failed: {e}");
            return;
        }
    };
    println!("netecho: listening on port {port}");
    let mut conns: Vec<Conn> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut served = 0u64;
    loop {
        let mut ready = [0u64; POLL_MAX];
        let n = match net.poll(&mut ready) {
            Ok(n) => n,
            Err(e) if e == SocketError::Status(net_api::status::NET_DOWN) && down_passes => {
                println!("netecho: the network is down ({e}); TEST PASS");
                userlib::sys::poweroff(userlib::abi::POWEROFF_TEST_PASS);
                return;
            }
            Err(e) => {
                println!("netecho: poll failed: {e}");
                return;
            }
        };
        for &h in &ready[..n] {
            if h == listener {
                while let Ok(a) = net.accept_with(listener, Net::NONBLOCK) {
                    let [a0, a1, a2, a3] = a.peer_ip;
                    println!(
                        "netecho: connection from {a0}.{a1}.{a2}.{a3}:{} ({} open)",
                        a.peer_port,
                        conns.len() + 1
                    );
                    conns.push(Conn {
                        handle: a.conn,
                        bytes: 0,
                    });
                }
                continue;
            }
            let Some(i) = conns.iter().position(|c| c.handle == h) else {
                continue;
            };
            match net.read_with(h, &mut buf, Net::NONBLOCK) {
                Ok(0) => {
                    served += 1;
                    println!(
                        "netecho: connection closed after {} bytes echoed ({served} served)",
                        conns[i].bytes
                    );
                    let _ = net.close(h);
                    conns.swap_remove(i);
                    if served == stop_after {
                        if let Ok(d) = net.driver_stats() {
                            println!(
                                "netecho: driver: {} frames received, {} sent, {} interrupts, {} queue notifications, at most {} transmit buffers on the device at once",
                                d[0], d[1], d[2], d[3], d[4]
                            );
                        }
                        if let Ok(s) = net.stats() {
                            let total = (s[0] + s[1] + s[2] + s[3]).max(1);
                            println!(
                                "netecho: net service cycles: stack {} permille, driver calls {}, client calls {}, asleep {}; {} timer interrupts, {} frames",
                                s[0] * 1000 / total,
                                s[1] * 1000 / total,
                                s[2] * 1000 / total,
                                s[3] * 1000 / total,
                                s[4],
                                s[5]
                            );
                        }
                        println!("netecho: served {served} connections; TEST PASS");
                        userlib::sys::poweroff(userlib::abi::POWEROFF_TEST_PASS);
                    }
                }
                Ok(got) => match net.write_all(h, &buf[..got]) {
                    Ok(()) => conns[i].bytes += got as u64,
                    Err(e) => {
                        println!("netecho: write failed: {e}");
                        let _ = net.close(h);
                        conns.swap_remove(i);
                    }
                },
                Err(e) if Net::would_block(&e) => {}
                Err(SocketError::Kernel(e)) => {
                    println!("netecho: the network service is gone: {e:?}");
                    return;
                }
                Err(e) => {
                    println!("netecho: read failed: {e}");
                    let _ = net.close(h);
                    conns.swap_remove(i);
                }
            }
        }
    }
}
