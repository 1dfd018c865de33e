//! A client whose connection dies in the middle of a PATCH reconnects,
//! asks the session's status, and resumes from the reported offset: every
//! byte acknowledged (or appended before the cut) is kept, the blob
//! completes with the right digest.
mod common;
use common::*;
use registry_http::Limits;

#[test]
fn session_resumes_from_reported_offset_after_a_cut() {
    let limits = Limits {
        upload_piece: 4096,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits.clone());
    let data = bytes(50_000, 4);
    let d = sha256(&data);

    let r = h.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
    let loc = r.header("Location").unwrap().to_string();
    let r = h.request(&req("PATCH", &loc, &[], &data[..10_000]));
    assert_eq!(r.header("Range"), Some("0-9999"));

    // Second PATCH (chunked, as streaming clients send) cut after ~13 KB of
    // its 40 KB: no answer comes, the peer is gone.
    let patch = chunked_req("PATCH", &loc, &[], &data[10_000..], 1000);
    h.send_split(&patch[..13_500], 700);
    h.drain();
    assert!(h.pending.is_empty(), "no answer to a cut request");
    h.conn.abort(&mut h.be);
    assert!(h.conn.is_closed());
    assert_eq!(
        h.be.open_uploads(),
        1,
        "a client's session survives a disconnect"
    );

    // Reconnect: status says how much is durable, at least what was
    // acknowledged.
    h.reconnect(limits);
    let r = h.request(&req("GET", &loc, &[], b""));
    assert_eq!(r.status, 204);
    let range = r.header("Range").unwrap();
    let end: usize = range.strip_prefix("0-").unwrap().parse().unwrap();
    let offset = end + 1;
    assert!((10_000..50_000).contains(&offset), "offset {offset}");
    assert_eq!((offset - 10_000) % 4096, 0, "cut pieces are whole appends");

    // Resume with Content-Range from that offset, then finish.
    let cr = format!("{offset}-{}", 50_000 - 1);
    let r = h.request(&req(
        "PATCH",
        &loc,
        &[("Content-Range", &cr)],
        &data[offset..],
    ));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("Range"), Some("0-49999"));
    let r = h.request(&req("PUT", &format!("{loc}?digest={d}"), &[], b""));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(h.be.blob_bytes(&d), Some(data.as_slice()));
}

#[test]
fn a_cut_monolithic_push_leaves_nothing_behind() {
    let mut h = Harness::with_limits(Limits {
        upload_piece: 1024,
        ..Limits::default()
    });
    let data = bytes(10_000, 5);
    let d = sha256(&data);
    let full = req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    h.send(&full[..full.len() - 3000]);
    assert_eq!(h.be.open_uploads(), 1);
    h.conn.abort(&mut h.be);
    assert_eq!(
        h.be.open_uploads(),
        0,
        "the session this request opened is cancelled"
    );
    assert!(h.be.blob_bytes(&d).is_none());
}
