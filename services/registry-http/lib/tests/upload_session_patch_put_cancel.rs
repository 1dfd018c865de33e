//! Upload sessions: POST → 202 + Location + Docker-Upload-UUID + Range,
//! PATCH with and without Content-Range (416 on a wrong offset), GET
//! status, PUT ?digest= with a final body, DELETE cancel.
mod common;
use common::*;

#[test]
fn session_upload_in_patches_then_put() {
    let mut h = Harness::new();
    let data = bytes(3000, 3);
    let d = sha256(&data);

    let r = h.request(&req("POST", "/v2/team/app/blobs/uploads/", &[], b""));
    assert_eq!(r.status, 202);
    let loc = r.header("Location").unwrap().to_string();
    let uuid = r.header("Docker-Upload-UUID").unwrap().to_string();
    assert_eq!(loc, format!("/v2/team/app/blobs/uploads/{uuid}"));
    assert_eq!(r.header("Range"), Some("0-0"));

    // PATCH without Content-Range (streamed append).
    let r = h.request(&req(
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &data[..1000],
    ));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("Range"), Some("0-999"));
    assert_eq!(r.header("Location"), Some(loc.as_str()));

    // PATCH with a Content-Range at the wrong offset: 416, nothing appended.
    let r = h.request(&req(
        "PATCH",
        &loc,
        &[("Content-Range", "500-1499")],
        &data[500..1500],
    ));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (416, "BLOB_UPLOAD_INVALID")
    );
    assert_eq!(r.header("Range"), Some("0-999"));

    // Content-Range whose length disagrees with Content-Length.
    let r = h.request(&req(
        "PATCH",
        &loc,
        &[("Content-Range", "1000-1999")],
        &data[1000..1500],
    ));
    assert_eq!((r.status, r.error_code().as_str()), (400, "SIZE_INVALID"));

    // PATCH with the right Content-Range.
    let r = h.request(&req(
        "PATCH",
        &loc,
        &[("Content-Range", "1000-1999")],
        &data[1000..2000],
    ));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("Range"), Some("0-1999"));

    let r = h.request(&req("GET", &loc, &[], b""));
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Range"), Some("0-1999"));
    assert_eq!(r.header("Docker-Upload-UUID"), Some(uuid.as_str()));

    // PUT without digest, then with a bad one: refused, session intact.
    let r = h.request(&req("PUT", &loc, &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = h.request(&req("PUT", &format!("{loc}?digest=sha256:1"), &[], b""));
    assert_eq!(r.status, 400);

    // PUT with the last bytes as its body.
    let r = h.request(&req(
        "PUT",
        &format!("{loc}?digest={d}"),
        &[],
        &data[2000..],
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/team/app/blobs/{d}").as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(h.be.blob_bytes(&d), Some(data.as_slice()));

    // The session is gone.
    let r = h.request(&req("GET", &loc, &[], b""));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "BLOB_UPLOAD_UNKNOWN")
    );
}

#[test]
fn cancelled_or_unknown_sessions_answer_blob_upload_unknown() {
    let mut h = Harness::new();
    let r = h.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
    let loc = r.header("Location").unwrap().to_string();
    let r = h.request(&req("PATCH", &loc, &[], b"abc"));
    assert_eq!(r.status, 202);
    let r = h.request(&req("DELETE", &loc, &[], b""));
    assert_eq!(r.status, 204);
    assert_eq!(h.be.open_uploads(), 0);
    for (m, body) in [("GET", &b""[..]), ("PATCH", b"x"), ("DELETE", b"")] {
        let r = h.request(&req(m, &loc, &[], body));
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (404, "BLOB_UPLOAD_UNKNOWN"),
            "{m}"
        );
    }
    // An id with characters no backend hands out.
    let r = h.request(&req("GET", "/v2/app/blobs/uploads/a%2e%2e", &[], b""));
    assert_eq!(r.status, 404);
    // A session of another repository is not this one's.
    let r = h.request(&req("POST", "/v2/one/blobs/uploads/", &[], b""));
    let uuid = r.header("Docker-Upload-UUID").unwrap().to_string();
    let r = h.request(&req(
        "GET",
        &format!("/v2/two/blobs/uploads/{uuid}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 404);
}

#[test]
fn put_with_wrong_digest_drops_the_session() {
    let mut h = Harness::new();
    let r = h.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
    let loc = r.header("Location").unwrap().to_string();
    let wrong = sha256(b"not it");
    let r = h.request(&req("PUT", &format!("{loc}?digest={wrong}"), &[], b"data"));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(h.be.open_uploads(), 0);
}
