//! Whatever a client sends, the connection neither panics nor loops: valid
//! request scripts with bytes flipped, cut and duplicated at random places,
//! fed at random splits, with timeouts polled in between. Every output is
//! well-formed HTTP responses.
mod common;
use common::*;
use registry_http::Limits;

fn script() -> Vec<u8> {
    let data = bytes(300, 20);
    let d = sha256(&data);
    let cfg = sha256(b"{}");
    let m = image_manifest(OCI_MANIFEST, (&cfg, 2), &[(&d, 300)], "");
    let mut all = Vec::new();
    all.extend(req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={cfg}"),
        &[],
        b"{}",
    ));
    all.extend(chunked_req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[("Expect", "100-continue")],
        &data,
        37,
    ));
    all.extend(req(
        "PUT",
        "/v2/app/manifests/v1",
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    ));
    all.extend(req(
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=3-9")],
        b"",
    ));
    all.extend(req(
        "PATCH",
        "/v2/app/blobs/uploads/u00000001-3",
        &[("Content-Range", "0-4")],
        b"hello",
    ));
    all.extend(req("GET", "/v2/app/tags/list?n=1&last=a", &[], b""));
    all.extend(req(
        "GET",
        &format!("/v2/app/referrers/{d}?artifactType=x"),
        &[],
        b"",
    ));
    all
}

#[test]
fn mutated_streams_never_panic() {
    let base = script();
    let mut rng = 0x9e37_79b9u32;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng as usize % n.max(1)
    };
    for round in 0..3000 {
        let mut s = base.clone();
        for _ in 0..1 + next(4) {
            let at = next(s.len());
            match next(4) {
                0 => s[at] = next(256) as u8,
                1 => s.truncate(at),
                2 => {
                    let piece = s[at..(at + next(40)).min(s.len())].to_vec();
                    s.splice(at..at, piece);
                }
                _ => s.insert(at, *b"\r\n:-0 ;%".get(next(8)).unwrap()),
            }
        }
        let mut h = Harness::with_limits(Limits {
            max_head: 512,
            upload_piece: 64,
            max_manifest: 1024,
            idle_timeout: 50,
            head_timeout: 30,
            ..Limits::default()
        });
        h.out_buf = 1 + next(300);
        let split = 1 + next(200);
        for (i, piece) in s.chunks(split).enumerate() {
            h.now = i as u64;
            h.send(piece);
            h.drain();
            if h.conn.is_closed() {
                break;
            }
            let _ = h.conn.poll_timeout(&mut h.be, h.now);
        }
        let _ = h.conn.poll_timeout(&mut h.be, 1_000_000);
        h.drain(); // a late head's 408
        assert!(h.conn.is_closed(), "round {round}: timed out at last");
        // Every byte written parses as responses (HEAD-free script).
        let mut out = &h.pending[..];
        while !out.is_empty() {
            match parse_response(out, false) {
                Some((_, used)) => out = &out[used..],
                None => panic!("round {round}: truncated response"),
            }
        }
    }
}
