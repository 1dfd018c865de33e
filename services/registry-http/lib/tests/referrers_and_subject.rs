//! The referrers API: a pushed manifest with `subject` gets `OCI-Subject`,
//! appears in `GET /v2/<name>/referrers/<digest>` (an OCI index), and the
//! `artifactType` filter narrows it with `OCI-Filters-Applied`.
mod common;
use common::*;

#[test]
fn referrers_list_and_filter() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let image = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let subject = sha256(&image);
    assert_eq!(
        h.put_manifest("app", "v1", OCI_MANIFEST, &image).status,
        201
    );

    let subj = format!(
        r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{}}}"#,
        image.len()
    );
    let sig = image_manifest(
        OCI_MANIFEST,
        (&cfg, 2),
        &[],
        &format!(
            r#"{subj},"artifactType":"application/vnd.example.sig","annotations":{{"k":"v"}}"#
        ),
    );
    let sbom = image_manifest(
        OCI_MANIFEST,
        (&cfg, 2),
        &[],
        &format!(r#"{subj},"artifactType":"application/spdx+json""#),
    );
    for m in [&sig, &sbom] {
        let r = h.put_manifest("app", &sha256(m).to_string(), OCI_MANIFEST, m);
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("OCI-Subject"), Some(subject.as_str()));
    }

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/referrers/{subject}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(OCI_INDEX));
    let v = r.json();
    assert_eq!(v["mediaType"], OCI_INDEX);
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sig_entry = list
        .iter()
        .find(|e| e["digest"] == sha256(&sig).as_str())
        .unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.sig");
    assert_eq!(sig_entry["size"], sig.len());
    assert_eq!(sig_entry["annotations"]["k"], "v");

    let r = h.request(&req(
        "GET",
        &format!("/v2/app/referrers/{subject}?artifactType=application%2Fspdx%2Bjson"),
        &[],
        b"",
    ));
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    let v = r.json();
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sha256(&sbom).as_str());

    // Unknown subject or repository: an empty index, not an error.
    let other = sha256(b"x");
    for path in [
        format!("/v2/app/referrers/{other}"),
        format!("/v2/nope/referrers/{other}"),
    ] {
        let r = h.request(&req("GET", &path, &[], b""));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 0);
    }
    let r = h.request(&req("GET", "/v2/app/referrers/sha256:bad", &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
}
