//! Repository names are checked against the spec's grammar on every
//! route, unknown routes and methods get errors, nothing reaches storage.
mod common;
use common::*;

#[test]
fn invalid_names_and_routes_are_refused() {
    let mut h = Harness::new();
    for name in [
        "App",
        "a/../b",
        "..",
        "a//b",
        "-a",
        "a__-b",
        &"x".repeat(256),
    ] {
        for path in [
            format!("/v2/{name}/tags/list"),
            format!("/v2/{name}/manifests/latest"),
            format!("/v2/{name}/blobs/uploads/"),
        ] {
            let method = if path.ends_with("uploads/") {
                "POST"
            } else {
                "GET"
            };
            let r = h.request(&req(method, &path, &[], b""));
            assert_eq!(
                (r.status, r.error_code().as_str()),
                (400, "NAME_INVALID"),
                "{path}"
            );
        }
    }
    assert_eq!(h.be.open_uploads(), 0);
    let r = h.request(&req("GET", "/v2/app/nothing/here", &[], b""));
    assert_eq!(r.status, 404);
    let r = h.request(&req("GET", "/other", &[], b""));
    assert_eq!(r.status, 404);
    let r = h.request(&req("PATCH", "/v2/app/manifests/latest", &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (405, "UNSUPPORTED"));
    let r = h.request(&req("GET", "/v2/app/manifests/.bad", &[], b""));
    assert_eq!(r.status, 404);
    // The connection is still usable after all those errors.
    assert_eq!(h.request(&req("GET", "/v2/", &[], b"")).status, 200);
}
