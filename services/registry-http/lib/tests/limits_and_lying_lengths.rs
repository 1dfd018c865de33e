//! Limits: a huge head (431), a body over the blob or manifest limit
//! (413, nothing stored), lengths that lie or disagree (400), and a body
//! that never arrives (timeout, session of that request undone).
mod common;
use common::*;
use registry_http::{Limits, Timeout};

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let limits = Limits {
        max_head: 1024,
        max_manifest: 2000,
        max_blob: 10_000,
        upload_piece: 1000,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits.clone());
    let long = "x".repeat(2000);
    h.send(format!("GET /v2/ HTTP/1.1\r\nX-Long: {long}\r\n\r\n").as_bytes());
    assert_eq!(h.next_response(false).unwrap().status, 431);
    assert!(h.conn.is_closed());

    // A blob over the limit, sent with Content-Length: refused before reading.
    let mut h = Harness::with_limits(limits.clone());
    let d = sha256(b"x");
    h.send(
        format!("POST /v2/app/blobs/uploads/?digest={d} HTTP/1.1\r\nContent-Length: 20000\r\n\r\n")
            .as_bytes(),
    );
    let r = h.next_response(false).unwrap();
    assert_eq!((r.status, r.error_code().as_str()), (413, "SIZE_INVALID"));
    assert_eq!(h.be.open_uploads(), 0);
    assert_eq!(h.be.appends, 0);

    // The same over chunked: refused once the limit is passed, undone.
    let mut h = Harness::with_limits(limits.clone());
    let big = bytes(20_000, 11);
    h.send(&chunked_req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256(&big)),
        &[],
        &big,
        3000,
    ));
    let r = h.next_response(false).unwrap();
    assert_eq!((r.status, r.error_code().as_str()), (413, "SIZE_INVALID"));
    assert_eq!(h.be.open_uploads(), 0);
    assert!(h.be.blob_bytes(&sha256(&big)).is_none());

    // A manifest over its limit.
    let mut h = Harness::with_limits(limits.clone());
    let r = h.put_manifest("app", "v1", OCI_MANIFEST, &vec![b' '; 3000]);
    assert_eq!((r.status, r.error_code().as_str()), (413, "SIZE_INVALID"));
    assert!(
        h.conn.is_closed(),
        "a body too large to drop closes the connection"
    );
    h.reconnect(limits);
    assert_eq!(
        h.request(&req("GET", "/v2/app/manifests/v1", &[], b""))
            .status,
        404
    );
}

#[test]
fn lying_lengths_are_refused() {
    for bad in [
        "Content-Length: 18446744073709551616",
        "Content-Length: 1\r\nContent-Length: 2",
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked",
    ] {
        let mut h = Harness::new();
        h.send(format!("PATCH /v2/app/blobs/uploads/x HTTP/1.1\r\n{bad}\r\n\r\nhello").as_bytes());
        let r = h.next_response(false).unwrap();
        assert!(r.status == 400 || r.status == 501, "{bad}: {}", r.status);
        assert!(h.conn.is_closed(), "{bad}");
    }
}

#[test]
fn a_body_that_never_arrives_times_out_and_is_undone() {
    let limits = Limits {
        idle_timeout: 1000,
        head_timeout: 500,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    let d = sha256(b"whatever");
    // Claims 100 bytes, sends 10.
    h.send(format!("POST /v2/app/blobs/uploads/?digest={d} HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789").as_bytes());
    assert_eq!(h.be.open_uploads(), 1);
    assert_eq!(h.conn.poll_timeout(&mut h.be, 999), Timeout::At(1000));
    assert_eq!(h.conn.poll_timeout(&mut h.be, 1000), Timeout::Expired);
    assert!(h.conn.is_closed());
    assert_eq!(
        h.be.open_uploads(),
        0,
        "the monolithic session is cancelled"
    );
}
