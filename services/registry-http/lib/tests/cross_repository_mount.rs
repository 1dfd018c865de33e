//! `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`: 201
//! without a byte sent when `from` holds the blob, else a new session.
mod common;
use common::*;

#[test]
fn mount_existing_blob_or_fall_back_to_upload() {
    let mut h = Harness::new();
    let data = bytes(2000, 7);
    let d = h.push_blob("base", &data);
    let appends = h.be.appends;

    let r = h.request(&req(
        "POST",
        &format!("/v2/app/blobs/uploads/?mount={d}&from=base"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/app/blobs/{d}").as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(h.be.appends, appends, "no byte uploaded");
    let r = h.request(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    assert_eq!(r.body, data);

    // `from` does not hold it, or is not a valid name, or is absent: a session.
    let other = sha256(b"elsewhere");
    for q in [
        format!("mount={other}&from=base"),
        format!("mount={d}&from=Bad..Name"),
        format!("mount={d}"),
    ] {
        let r = h.request(&req(
            "POST",
            &format!("/v2/app2/blobs/uploads/?{q}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 202, "{q}");
        assert!(r.header("Docker-Upload-UUID").is_some());
    }
    let r = h.request(&req(
        "POST",
        "/v2/app/blobs/uploads/?mount=sha256:1&from=base",
        &[],
        b"",
    ));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
}
