//! Scenario: every slot of the service is held by keep-alive connections
//! doing nothing (a client's connection pool) and a new client waits; the
//! service makes room by closing the one idle longest, so it must know
//! which are idle between requests: from accept or the end of an answer
//! until the next request's first byte, never while a request head or
//! body is arriving or an answer (a blob included) is still being sent.
mod common;
use common::*;

#[test]
fn idle_between_requests_is_known() {
    let mut h = Harness::new();
    h.out_buf = 1000;
    // Accepted at 0, nothing sent yet: idle since then.
    assert_eq!(h.conn.idle_since(), Some(0));
    // An answered request: idle from its last activity.
    h.now = 50;
    assert_eq!(h.request(&req("GET", "/v2/", &[], b"")).status, 200);
    assert_eq!(h.conn.idle_since(), Some(50));

    // Part of a request head: busy.
    h.now = 70;
    let raw = req("GET", "/v2/", &[], b"");
    h.send(&raw[..5]);
    assert_eq!(h.conn.idle_since(), None);
    h.send(&raw[5..]);
    assert_eq!(h.next_response(false).map(|r| r.status), Some(200));
    assert_eq!(h.conn.idle_since(), Some(70));

    // An upload body half received: busy.
    let data = bytes(10_000, 3);
    let start = h.request(&req("POST", "/v2/a/blobs/uploads/", &[], b""));
    let loc = start.header("location").unwrap().to_string();
    h.now = 90;
    let patch = req("PATCH", &loc, &[], &data);
    h.send(&patch[..patch.len() - 4000]);
    assert_eq!(h.conn.idle_since(), None);
    h.send(&patch[patch.len() - 4000..]);
    assert_eq!(h.next_response(false).map(|r| r.status), Some(202));
    assert_eq!(h.conn.idle_since(), Some(90));

    // A blob answer not yet taken by the socket: busy until all is sent.
    let d = h.push_blob("a", &data);
    h.now = 120;
    h.conn.on_input(
        &mut h.be,
        &req("GET", &format!("/v2/a/blobs/{d}"), &[], b""),
        h.now,
    );
    let mut buf = vec![0u8; 1000];
    assert_eq!(h.conn.write_output(&mut h.be, &mut buf), 1000);
    assert_eq!(h.conn.idle_since(), None);
    h.drain();
    assert_eq!(h.conn.idle_since(), Some(120));

    // A connection that is closing is not idle: it is going.
    h.send(&req("GET", "/v2/", &[("Connection", "close")], b""));
    h.drain();
    assert!(h.conn.is_closed());
    assert_eq!(h.conn.idle_since(), None);
}
