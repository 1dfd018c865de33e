//! Manifests by tag and digest: media type served back,
//! Docker-Content-Digest everywhere, Accept negotiation of indexes,
//! MANIFEST_BLOB_UNKNOWN for missing blobs or children, DELETE.
mod common;
use common::*;

#[test]
fn oci_and_docker_manifests_round_trip() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let layer = bytes(500, 6);
    let l = h.push_blob("app", &layer);
    for (mt, tag) in [(OCI_MANIFEST, "oci"), (DOCKER_MANIFEST, "docker")] {
        let body = image_manifest(mt, (&cfg, 2), &[(&l, 500)], "");
        let r = h.put_manifest("app", tag, mt, &body);
        assert_eq!(r.status, 201, "{}", r.text());
        let d = sha256(&body);
        assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
        assert_eq!(
            r.header("Location"),
            Some(format!("/v2/app/manifests/{d}").as_str())
        );
        assert_eq!(r.header("OCI-Subject"), None);
        for reference in [tag.to_string(), d.to_string()] {
            let r = h.request(&req(
                "GET",
                &format!("/v2/app/manifests/{reference}"),
                &[("Accept", mt)],
                b"",
            ));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Content-Type"), Some(mt));
            assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
            assert_eq!(r.body, body);
            let r = h.request(&req(
                "HEAD",
                &format!("/v2/app/manifests/{reference}"),
                &[],
                b"",
            ));
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("Content-Length"),
                Some(body.len().to_string().as_str())
            );
            assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
        }
    }
}

#[test]
fn indexes_need_their_children_and_an_accepting_client() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let m = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let md = sha256(&m);
    let index = index_manifest(OCI_INDEX, &[(&md, m.len(), OCI_MANIFEST)]);

    // The child is not pushed yet.
    let r = h.put_manifest("app", "multi", OCI_INDEX, &index);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(
        h.put_manifest("app", &md.to_string(), OCI_MANIFEST, &m)
            .status,
        201
    );
    let r = h.put_manifest("app", "multi", OCI_INDEX, &index);
    assert_eq!(r.status, 201, "{}", r.text());

    // A client that lists only single manifests is not given an index.
    let r = h.request(&req(
        "GET",
        "/v2/app/manifests/multi",
        &[("Accept", OCI_MANIFEST)],
        b"",
    ));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    let r = h.request(&req(
        "GET",
        "/v2/app/manifests/multi",
        &[("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
        b"",
    ));
    assert_eq!((r.status, r.header("Content-Type")), (200, Some(OCI_INDEX)));
    // Docker manifest lists the same way.
    let dl = index_manifest(DOCKER_LIST, &[(&md, m.len(), OCI_MANIFEST)]);
    assert_eq!(h.put_manifest("app", "dl", DOCKER_LIST, &dl).status, 201);
    let r = h.request(&req(
        "GET",
        "/v2/app/manifests/dl",
        &[("Accept", OCI_INDEX)],
        b"",
    ));
    assert_eq!(r.status, 404);
    let r = h.request(&req(
        "GET",
        "/v2/app/manifests/dl",
        &[("Accept", DOCKER_LIST)],
        b"",
    ));
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some(DOCKER_LIST))
    );
}

#[test]
fn bad_pushes_are_refused_with_the_spec_codes() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let missing = sha256(b"never pushed");
    let body = image_manifest(OCI_MANIFEST, (&cfg, 2), &[(&missing, 12)], "");
    let r = h.put_manifest("app", "v1", OCI_MANIFEST, &body);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    // The config is in another repository only.
    let body2 = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let r = h.put_manifest("other", "v1", OCI_MANIFEST, &body2);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");

    let r = h.put_manifest("app", "v1", OCI_MANIFEST, b"{not json");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID")
    );
    let r = h.put_manifest("app", "v1", OCI_INDEX, &body2);
    assert_eq!(
        r.error_code(),
        "MANIFEST_INVALID",
        "Content-Type and mediaType disagree"
    );
    let r = h.put_manifest("app", ".bad", OCI_MANIFEST, &body2);
    assert_eq!(r.status, 400);
    // By digest: the digest must be the body's.
    let r = h.put_manifest("app", missing.as_str(), OCI_MANIFEST, &body2);
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
    let r = h.request(&req("GET", "/v2/app/manifests/v1", &[], b""));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
}

#[test]
fn manifests_delete_by_tag_and_by_digest() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let body = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let d = sha256(&body);
    assert_eq!(h.put_manifest("app", "a", OCI_MANIFEST, &body).status, 201);
    assert_eq!(h.put_manifest("app", "b", OCI_MANIFEST, &body).status, 201);
    let r = h.request(&req("DELETE", "/v2/app/manifests/a", &[], b""));
    assert_eq!(r.status, 202);
    assert_eq!(
        h.request(&req("GET", "/v2/app/manifests/a", &[], b""))
            .status,
        404
    );
    assert_eq!(
        h.request(&req("GET", "/v2/app/manifests/b", &[], b""))
            .status,
        200
    );
    let r = h.request(&req("DELETE", &format!("/v2/app/manifests/{d}"), &[], b""));
    assert_eq!(r.status, 202);
    assert_eq!(
        h.request(&req("GET", "/v2/app/manifests/b", &[], b""))
            .status,
        404
    );
    let r = h.request(&req("DELETE", &format!("/v2/app/manifests/{d}"), &[], b""));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
}
