//! The two ends the stack tests wire back to back: the service's `Stack`
//! at 10.0.2.15 (the address QEMU's user network gives the guest) and a
//! plain smoltcp client interface at 10.0.2.2 on a frame queue.

#![allow(dead_code)]

use netstack::device::QueueDevice;
use netstack::smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use netstack::smoltcp::socket::tcp;
use netstack::smoltcp::time::Instant;
use netstack::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use netstack::{Config, Stack};

/// The service's stack, as the network service configures it in QEMU.
pub fn server() -> Stack {
    Stack::new(
        Config {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            ip: [10, 0, 2, 15],
            prefix_len: 24,
            gateway: [10, 0, 2, 2],
            seed: 1,
        },
        0,
    )
}

/// A client interface at 10.0.2.2 sending through `dev`.
pub fn client(dev: &mut QueueDevice) -> Interface {
    let mut cfg = IfaceConfig::new(HardwareAddress::Ethernet(EthernetAddress([
        0x52, 0x55, 10, 0, 2, 2,
    ])));
    cfg.random_seed = 2;
    let mut client = Interface::new(cfg, dev, Instant::from_millis(0));
    client.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 0, 2, 2), 24)).unwrap();
    });
    client
}

/// A client socket with `buffer` bytes each way, connecting from `port`
/// to the service's port 5000.
pub fn connect(
    client: &mut Interface,
    sockets: &mut SocketSet<'static>,
    port: u16,
    buffer: usize,
) -> SocketHandle {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; buffer]),
    );
    s.connect(client.context(), (IpAddress::v4(10, 0, 2, 15), 5000), port)
        .unwrap();
    sockets.add(s)
}

/// One millisecond `ms` of the wire: the client sends, the service takes
/// the frames and polls, its frames go back to the client's queue.
pub fn exchange(
    ms: u64,
    client: &mut Interface,
    dev: &mut QueueDevice,
    sockets: &mut SocketSet<'static>,
    server: &mut Stack,
) {
    client.poll(Instant::from_millis(ms as i64), dev, sockets);
    while let Some(f) = dev.tx.pop_front() {
        server.push_frame(&f);
    }
    server.poll(ms);
    while let Some(f) = server.pop_frame() {
        dev.rx.push_back(f);
    }
}
