//! Blobs: monolithic push, HEAD/GET, Range reads (206 + Content-Range,
//! suffix, 416), DELETE, unknown and invalid digests, a wrong digest.
mod common;
use common::*;

#[test]
fn blob_push_pull_range_and_delete() {
    let mut h = Harness::new();
    let r = h.request(&req("GET", "/v2/", &[], b""));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );

    let data = bytes(1000, 1);
    let d = h.push_blob("app", &data);

    let r = h.request(&req("HEAD", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert!(r.body.is_empty());

    let r = h.request(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!((r.status, &r.body), (200, &data));

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=10-19")],
        b"",
    ));
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(r.body, &data[10..20]);

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=-5")],
        b"",
    ));
    assert_eq!((r.status, r.body.as_slice()), (206, &data[995..]));

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=990-")],
        b"",
    ));
    assert_eq!(r.header("Content-Range"), Some("bytes 990-999/1000"));

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=1000-")],
        b"",
    ));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));

    // Another repository does not hold it.
    let r = h.request(&req("GET", &format!("/v2/other/blobs/{d}"), &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (404, "BLOB_UNKNOWN"));

    let r = h.request(&req("DELETE", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(r.status, 202);
    let r = h.request(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (404, "BLOB_UNKNOWN"));
    let r = h.request(&req("DELETE", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(r.status, 404);

    for bad in [
        "sha256:abc",
        "md5:00",
        "sha256:ZZ",
        &format!("sha256:{}", "A".repeat(64)),
    ] {
        let r = h.request(&req("GET", &format!("/v2/app/blobs/{bad}"), &[], b""));
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "DIGEST_INVALID"),
            "{bad}"
        );
    }
}

#[test]
fn wrong_digest_is_refused_and_leaves_no_session() {
    let mut h = Harness::new();
    let data = bytes(100, 2);
    let wrong = sha256(b"something else");
    let r = h.request(&req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={wrong}"),
        &[],
        &data,
    ));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(h.be.open_uploads(), 0);
    assert!(h.be.blob_bytes(&sha256(&data)).is_none());
    let r = h.request(&req("HEAD", &format!("/v2/app/blobs/{wrong}"), &[], b""));
    assert_eq!(r.status, 404);

    let r = h.request(&req(
        "POST",
        "/v2/app/blobs/uploads/?digest=sha256:12",
        &[],
        &data,
    ));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(h.be.open_uploads(), 0);
}
