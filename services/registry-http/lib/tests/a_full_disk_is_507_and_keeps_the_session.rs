//! Scenario: a push meets a full disk. The answer is 507 Insufficient
//! Storage with the spec's JSON body saying so (it was 400 `SIZE_INVALID`,
//! which tells a client that its request was wrong); the session keeps
//! what it held, at a `PATCH` and at the finishing `PUT` alike, and the
//! push resumes and completes once space is freed. A blob too large for
//! the store is still the request's fault: 400/413 `SIZE_INVALID`.
mod common;
use common::*;

#[test]
fn a_full_disk_is_507_and_keeps_the_session() {
    let mut h = Harness::new();
    h.be.capacity = Some(5000);
    let data = bytes(8000, 9);
    let d = sha256(&data);

    let r = h.request(&req("POST", "/v2/team/app/blobs/uploads/", &[], b""));
    assert_eq!(r.status, 202);
    let loc = r.header("Location").unwrap().to_string();
    let r = h.request(&req("PATCH", &loc, &[], &data[..4000]));
    assert_eq!(r.status, 202);

    // The next piece does not fit.
    let r = h.request(&req("PATCH", &loc, &[], &data[4000..6000]));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (507, "SIZE_INVALID"),
        "{}",
        r.text()
    );
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("only 1000 bytes are free"), "{message}");
    assert_eq!(r.reason, "Insufficient Storage");

    // The finishing PUT with the rest meets the same: the session stays.
    let put = format!("{loc}?digest={d}");
    let r = h.request(&req("PUT", &put, &[], &data[4000..]));
    assert_eq!(r.status, 507, "{}", r.text());
    let r = h.request(&req("GET", &loc, &[], b""));
    assert_eq!((r.status, r.header("Range")), (204, Some("0-3999")));

    // Space given back: the push resumes where it stood and completes.
    h.be.capacity = None;
    let r = h.request(&req("PUT", &put, &[], &data[4000..]));
    assert_eq!(r.status, 201, "{}", r.text());
    let r = h.request(&req("GET", &format!("/v2/team/app/blobs/{d}"), &[], b""));
    assert_eq!((r.status, sha256(&r.body)), (200, d));
    assert_eq!(h.be.open_uploads(), 0);
}
