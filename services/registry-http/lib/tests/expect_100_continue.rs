//! `Expect: 100-continue`: an accepted upload gets `100 Continue` before
//! the client sends the body; a refused one gets the final answer at once
//! (no 100) and the connection closes, since the body may or may not come.
mod common;
use common::*;

fn head_only(raw: &[u8]) -> &[u8] {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    &raw[..end]
}

#[test]
fn continue_is_sent_before_the_body_only_when_accepted() {
    let mut h = Harness::new();
    let data = bytes(5000, 10);
    let d = sha256(&data);
    let raw = req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[("Expect", "100-continue")],
        &data,
    );
    let head = head_only(&raw).to_vec();
    h.send(&head);
    let r = h.next_response(false).unwrap();
    assert_eq!(r.status, 100, "continue before the body");
    assert!(h.next_response(false).is_none());
    h.send(&raw[head.len()..]);
    let r = h.next_response(false).unwrap();
    assert_eq!(r.status, 201);

    // Refused before the body (bad name): final answer, no 100, close.
    let raw = req(
        "POST",
        "/v2/Bad/blobs/uploads/?digest=x",
        &[("Expect", "100-continue")],
        &data,
    );
    h.send(head_only(&raw));
    let r = h.next_response(false).unwrap();
    assert_eq!((r.status, r.error_code().as_str()), (400, "NAME_INVALID"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(h.conn.is_closed());
}

#[test]
fn too_large_with_continue_is_refused_without_reading() {
    let mut h = Harness::with_limits(registry_http::Limits {
        max_blob: 1000,
        ..Default::default()
    });
    let r = h.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
    let loc = r.header("Location").unwrap().to_string();
    h.send(
        format!("PATCH {loc} HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            .as_bytes(),
    );
    let r = h.next_response(false).unwrap();
    assert_eq!((r.status, r.error_code().as_str()), (413, "SIZE_INVALID"));
    assert_eq!(h.be.appends, 0);
}
