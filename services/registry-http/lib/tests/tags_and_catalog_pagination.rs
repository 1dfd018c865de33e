//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog` with `n`/`last`
//! pagination: pages in lexical order, `Link` to the next page, none on
//! the last.
mod common;
use common::*;

fn follow(h: &mut Harness, first: &str, key: &str) -> (Vec<String>, usize) {
    let mut all = Vec::new();
    let mut url = first.to_string();
    let mut pages = 0;
    loop {
        let r = h.request(&req("GET", &url, &[], b""));
        assert_eq!(r.status, 200, "{}", r.text());
        pages += 1;
        for t in r.json()[key].as_array().unwrap() {
            all.push(t.as_str().unwrap().to_string());
        }
        match r.header("Link") {
            None => return (all, pages),
            Some(l) => {
                assert!(l.ends_with(r#">; rel="next""#), "{l}");
                url = l[1..l.find('>').unwrap()].to_string();
            }
        }
    }
}

#[test]
fn tags_and_catalog_page_with_link_headers() {
    let mut h = Harness::new();
    let cfg = h.push_blob("app", b"{}");
    let body = image_manifest(OCI_MANIFEST, (&cfg, 2), &[], "");
    let mut tags: Vec<String> = (0..7).map(|i| format!("v{i}")).collect();
    tags.push("latest".into());
    for t in &tags {
        assert_eq!(h.put_manifest("app", t, OCI_MANIFEST, &body).status, 201);
    }
    tags.sort();

    let r = h.request(&req("GET", "/v2/app/tags/list", &[], b""));
    assert_eq!(r.json()["name"], "app");
    assert_eq!(r.header("Link"), None);

    let (got, pages) = follow(&mut h, "/v2/app/tags/list?n=3", "tags");
    assert_eq!((got, pages), (tags.clone(), 3));
    let r = h.request(&req("GET", "/v2/app/tags/list?n=2&last=v3", &[], b""));
    assert_eq!(r.json()["tags"], serde_json::json!(["v4", "v5"]));
    assert_eq!(
        r.header("Link"),
        Some(r#"</v2/app/tags/list?n=2&last=v5>; rel="next""#)
    );
    let r = h.request(&req("GET", "/v2/app/tags/list?n=0", &[], b""));
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    let r = h.request(&req("GET", "/v2/app/tags/list?n=x", &[], b""));
    assert_eq!(r.status, 400);
    let r = h.request(&req("GET", "/v2/nope/tags/list", &[], b""));
    assert_eq!((r.status, r.error_code().as_str()), (404, "NAME_UNKNOWN"));

    for name in ["b/x", "a", "c", "b/y", "d"] {
        h.push_blob(name, name.as_bytes());
    }
    let (got, _) = follow(&mut h, "/v2/_catalog?n=2", "repositories");
    assert_eq!(got, ["a", "app", "b/x", "b/y", "c", "d"]);
    let r = h.request(&req("GET", "/v2/_catalog?last=b%2Fx", &[], b""));
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["b/y", "c", "d"])
    );
}
