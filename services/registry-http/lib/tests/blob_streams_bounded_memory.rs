//! Bounded memory: a large blob is uploaded in pieces no larger than
//! `upload_piece` and served in reads no larger than the caller's output
//! buffer; the connection never holds the blob.
mod common;
use common::*;
use registry_http::Limits;

#[test]
fn large_blob_moves_in_bounded_pieces() {
    let mut h = Harness::with_limits(Limits {
        upload_piece: 64 * 1024,
        ..Limits::default()
    });
    let data = bytes(3 * 1024 * 1024 + 7, 12);
    let d = sha256(&data);
    let raw = req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    h.send_split(&raw, 1460); // TCP-segment-sized input
    let r = h.next_response(false).unwrap();
    assert_eq!(r.status, 201);
    assert!(h.be.largest_append <= 64 * 1024, "{}", h.be.largest_append);
    assert!(h.be.appends >= 48);

    h.out_buf = 16 * 1024;
    let r = h.request(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data);
    assert!(h.be.largest_read <= 16 * 1024, "{}", h.be.largest_read);
}
