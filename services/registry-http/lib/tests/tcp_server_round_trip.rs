//! The library served over a real `std::net::TcpListener` on 127.0.0.1
//! with the in-memory backend: a push and pull over keep-alive, a chunked
//! PATCH with 100-continue, and four clients pushing at once.
#[path = "common/client.rs"]
mod client;
mod common;
#[path = "common/server.rs"]
mod server;
use client::Client;
use common::*;

#[test]
fn push_and_pull_over_tcp_with_concurrent_clients() {
    let port = server::spawn(server::Shared::default(), 0);
    let mut c = Client::connect(port);
    assert_eq!(c.request(&req("GET", "/v2/", &[], b"")).status, 200);

    let cfg = b"{\"os\":\"linux\"}".to_vec();
    let layer = bytes(1 << 20, 13);
    let (dc, dl) = (sha256(&cfg), sha256(&layer));
    let r = c.request(&req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={dc}"),
        &[],
        &cfg,
    ));
    assert_eq!(r.status, 201);

    // Session: POST, chunked PATCH with 100-continue, PUT.
    let r = c.request(&req("POST", "/v2/app/blobs/uploads/", &[], b""));
    let loc = r.header("Location").unwrap().to_string();
    let patch = chunked_req("PATCH", &loc, &[("Expect", "100-continue")], &layer, 10_000);
    let head_end = patch.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    c.send(&patch[..head_end]);
    assert_eq!(c.response(false).status, 100);
    c.send(&patch[head_end..]);
    let r = c.response(false);
    assert_eq!(r.status, 202);
    assert_eq!(
        r.header("Range"),
        Some(format!("0-{}", layer.len() - 1).as_str())
    );
    let r = c.request(&req("PUT", &format!("{loc}?digest={dl}"), &[], b""));
    assert_eq!(r.status, 201);

    let m = image_manifest(OCI_MANIFEST, (&dc, cfg.len()), &[(&dl, layer.len())], "");
    let r = c.request(&req(
        "PUT",
        "/v2/app/manifests/1",
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    ));
    assert_eq!(r.status, 201, "{}", r.text());

    // Pull on a second connection.
    let mut c2 = Client::connect(port);
    let r = c2.request(&req(
        "GET",
        "/v2/app/manifests/1",
        &[("Accept", OCI_MANIFEST)],
        b"",
    ));
    assert_eq!((r.status, &r.body), (200, &m));
    let r = c2.request(&req("GET", &format!("/v2/app/blobs/{dl}"), &[], b""));
    assert!(r.status == 200 && r.body == layer);

    // Four clients push different blobs at once.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let data = bytes(300_000 + i, 100 + i as u32);
                let d = sha256(&data);
                let r = c.request(&req(
                    "POST",
                    &format!("/v2/repo{i}/blobs/uploads/"),
                    &[],
                    b"",
                ));
                let loc = r.header("Location").unwrap().to_string();
                for (k, part) in data.chunks(100_000).enumerate() {
                    let cr = format!("{}-{}", k * 100_000, k * 100_000 + part.len() - 1);
                    let r = c.request(&req("PATCH", &loc, &[("Content-Range", &cr)], part));
                    assert_eq!(r.status, 202);
                }
                let r = c.request(&req("PUT", &format!("{loc}?digest={d}"), &[], b""));
                assert_eq!(r.status, 201);
                let r = c.request(&req("GET", &format!("/v2/repo{i}/blobs/{d}"), &[], b""));
                assert!(r.body == data);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = c.request(&req("GET", "/v2/_catalog", &[], b""));
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["app", "repo0", "repo1", "repo2", "repo3"])
    );
}
