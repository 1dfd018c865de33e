//! Scenario: eight clients connect at the same moment (skopeo opens up to
//! six connections for a pull's layers; QEMU's user network forwards each
//! host connect as a SYN at once). A listener with backlog 16 kept only 4
//! sockets listening, so the fifth SYN onwards met no listening socket and
//! was answered RST: the client saw "connection reset" before sending a
//! byte. Every connect of a burst up to the backlog must be accepted.

mod common;

use netstack::device::QueueDevice;
use netstack::smoltcp::iface::SocketSet;
use netstack::smoltcp::socket::tcp;
use netstack::smoltcp::time::Instant;
use netstack::smoltcp::wire::IpAddress;

const OWNER: u64 = 7;
const CLIENTS: u16 = 8;

#[test]
fn a_burst_of_connects_is_accepted() {
    let mut server = common::server();
    let listener = server.listen(OWNER, 5000, 16).unwrap();
    let mut cdev = QueueDevice::default();
    let mut client = common::client(&mut cdev);
    let mut csockets = SocketSet::new(vec![]);
    let mut handles = vec![];
    for i in 0..CLIENTS {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        );
        s.connect(
            client.context(),
            (IpAddress::v4(10, 0, 2, 15), 5000),
            41000 + i,
        )
        .unwrap();
        handles.push(csockets.add(s));
    }
    let mut accepted = 0;
    for ms in 0..2000u64 {
        let t = Instant::from_millis(ms as i64);
        client.poll(t, &mut cdev, &mut csockets);
        while let Some(f) = cdev.tx.pop_front() {
            server.push_frame(&f);
        }
        server.poll(ms);
        while let Some(f) = server.pop_frame() {
            cdev.rx.push_back(f);
        }
        while server.accept(OWNER, listener).unwrap().is_some() {
            accepted += 1;
        }
    }
    let states: Vec<tcp::State> = handles
        .iter()
        .map(|&h| csockets.get::<tcp::Socket>(h).state())
        .collect();
    assert!(
        states.iter().all(|s| *s == tcp::State::Established),
        "client sockets: {states:?}"
    );
    assert_eq!(accepted, usize::from(CLIENTS));
}
