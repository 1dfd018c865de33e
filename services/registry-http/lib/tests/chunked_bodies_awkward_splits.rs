//! Chunked request bodies (uploads and manifests) fed at awkward byte
//! boundaries: inside size lines, between CR and LF, inside extensions
//! and trailers. The stored bytes are the same at every split.
mod common;
use common::*;
use registry_http::Limits;

#[test]
fn chunked_upload_survives_every_split() {
    let data = bytes(3000, 9);
    let d = sha256(&data);
    // Hand-made framing: extensions, uppercase hex, a trailer.
    let mut framed = Vec::new();
    let mut off = 0;
    for (i, n) in [1usize, 0xAB, 1000, 17, 1811].iter().enumerate() {
        framed.extend(format!("{n:X};ext{i}=\"v\"\r\n").as_bytes());
        framed.extend(&data[off..off + n]);
        framed.extend(b"\r\n");
        off += n;
    }
    assert_eq!(off, data.len());
    framed.extend(b"0\r\nX-Trailer: yes\r\n\r\n");
    for split in [1, 2, 3, 4, 7, 100, 999, framed.len()] {
        let mut h = Harness::with_limits(Limits {
            upload_piece: 512,
            ..Limits::default()
        });
        let r = h.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
        let id = r.header("Docker-Upload-UUID").unwrap().to_string();
        let mut msg = format!(
            "PATCH /v2/app/blobs/uploads/{id} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        msg.extend(&framed);
        h.send_split(&msg, split);
        let r = h.next_response(false).expect("answer");
        assert_eq!(r.status, 202, "split {split}: {}", r.text());
        assert_eq!(r.header("Range"), Some("0-2999"));
        assert!(h.be.largest_append <= 512);
        let r = h.request(&req(
            "PUT",
            &format!("/v2/app/blobs/uploads/{id}?digest={d}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 201, "split {split}");
        assert_eq!(h.be.blob_bytes(&d), Some(data.as_slice()));
    }
}

#[test]
fn chunked_manifest_and_malformed_chunks() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let body = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let raw = chunked_req(
        "PUT",
        "/v2/app/manifests/v1",
        &[("Content-Type", OCI_MANIFEST)],
        &body,
        5,
    );
    h.send_split(&raw, 3);
    let r = h.next_response(false).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    // Bad chunk framing: 400 and the connection closes; the session this
    // request opened is cancelled.
    let mut h = Harness::new();
    let mut raw = b"POST /v2/app/blobs/uploads/?digest=".to_vec();
    raw.extend(sha256(b"x").as_str().as_bytes());
    raw.extend(b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n");
    h.send(&raw);
    let r = h.next_response(false).unwrap();
    assert_eq!(r.status, 400);
    assert!(h.conn.is_closed());
    assert_eq!(h.be.open_uploads(), 0);
}
