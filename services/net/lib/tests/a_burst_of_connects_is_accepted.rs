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
        handles.push(common::connect(&mut client, &mut csockets, 41000 + i, 4096));
    }
    let mut accepted = 0;
    for ms in 0..2000u64 {
        common::exchange(ms, &mut client, &mut cdev, &mut csockets, &mut server);
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
