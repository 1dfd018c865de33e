//! Scenario: a client (the registry) has every connection slot busy and
//! a new peer connects. Its listener was ready at every `poll`, which the
//! client answered by not accepting, so client and service spun at full
//! CPU until a slot freed. A `poll` that leaves listeners out (`accept`
//! false, `NO_ACCEPT` over IPC) must not name the listener, must still
//! name a connection with data, and must leave the peer waiting in the
//! backlog, accepted as soon as the client asks again.

mod common;

use netstack::device::QueueDevice;
use netstack::smoltcp::iface::SocketSet;
use netstack::smoltcp::socket::tcp;

const OWNER: u64 = 7;

#[test]
fn a_full_client_is_not_told_of_its_listener() {
    let mut server = common::server();
    let listener = server.listen(OWNER, 5000, 16).unwrap();
    let mut cdev = QueueDevice::default();
    let mut client = common::client(&mut cdev);
    let mut csockets = SocketSet::new(vec![]);
    let busy = common::connect(&mut client, &mut csockets, 41000, 4096);
    let mut ms = 0;
    // 50 ms of the wire: enough for a handshake or a segment and its ACK.
    macro_rules! wire {
        () => {
            for _ in 0..50 {
                ms += 1;
                common::exchange(ms, &mut client, &mut cdev, &mut csockets, &mut server);
            }
        };
    }
    wire!();
    let conn = server.accept(OWNER, listener).unwrap().unwrap().0;
    // The accepted connection sends half a request: readable either way.
    csockets
        .get_mut::<tcp::Socket>(busy)
        .send_slice(b"GET /v2/ HTTP/1.1\r\n")
        .unwrap();
    // A second peer connects while the client cannot take it.
    let waiting = common::connect(&mut client, &mut csockets, 41001, 4096);
    wire!();
    assert_eq!(
        csockets.get::<tcp::Socket>(waiting).state(),
        tcp::State::Established,
        "the handshake completes in the backlog"
    );

    let mut out = [0u64; 5];
    assert_eq!(server.ready(OWNER, true, |_| false, &mut out), 2);
    let mut both = out[..2].to_vec();
    both.sort();
    let mut want = vec![listener, conn];
    want.sort();
    assert_eq!(both, want, "listener and connection are ready");

    let mut out = [0u64; 5];
    assert_eq!(server.ready(OWNER, false, |_| false, &mut out), 1);
    assert_eq!(out[0], conn, "only the connection, not the listener");

    // Once the data is read, nothing is ready for the full client: its
    // poll waits instead of being answered at once, again and again.
    let mut got = Vec::new();
    let n = server
        .read(OWNER, conn, 100, |d| {
            got.extend_from_slice(d);
            d.len()
        })
        .unwrap();
    assert_eq!(n, Some(19));
    assert_eq!(server.ready(OWNER, false, |_| false, &mut out), 0);
    // Another client's poll never names this client's listener.
    assert_eq!(server.ready(OWNER + 1, true, |_| false, &mut out), 0);

    // A slot frees: the peer was kept and is accepted at once.
    server.close(OWNER, conn).unwrap();
    assert_eq!(server.ready(OWNER, true, |_| false, &mut out), 1);
    assert_eq!(out[0], listener);
    assert!(server.accept(OWNER, listener).unwrap().is_some());
    // Its request, sent meanwhile, is counted even where `out` has no room.
    csockets
        .get_mut::<tcp::Socket>(waiting)
        .send_slice(b"GET /v2/ HTTP/1.1\r\n\r\n")
        .unwrap();
    wire!();
    assert_eq!(server.ready(OWNER, false, |_| false, &mut []), 1);
}
