//! `Connection::bulk` names what the connection moves in bulk (the
//! registry service accounts a transfer's CPU time by it): a request body
//! while it arrives, a blob body while it is sent, nothing otherwise.
mod common;
use common::*;
use registry_http::Bulk;

#[test]
fn bulk_names_a_push_body_then_a_pull_body_then_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.conn.bulk(), None);

    let data = bytes(300_000, 7);
    let d = sha256(&data);
    let raw = req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    // The head and part of the body: the body is arriving.
    h.send(&raw[..raw.len() - 1000]);
    assert_eq!(h.conn.bulk(), Some(Bulk::Push));
    h.send(&raw[raw.len() - 1000..]);
    assert_eq!(h.next_response(false).unwrap().status, 201);
    assert_eq!(h.conn.bulk(), None);

    h.send(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(h.conn.bulk(), Some(Bulk::Pull));
    // Part of the body taken: still streaming.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = h.conn.write_output(&mut h.be, &mut buf);
    assert_eq!(h.conn.bulk(), Some(Bulk::Pull));
    loop {
        let n = h.conn.write_output(&mut h.be, &mut buf);
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got > data.len(), "head and body: {got}");
    assert_eq!(h.conn.bulk(), None);

    // A manifest or an error answer is not bulk.
    h.send(&req(
        "GET",
        "/v2/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &[],
        b"",
    ));
    assert_eq!(h.conn.bulk(), None);
    assert_eq!(h.next_response(false).unwrap().status, 404);
}
