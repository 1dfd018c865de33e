//! Keep-alive and pipelining: several requests in one byte stream, fed at
//! every split point, answered in order on one connection; `Connection:
//! close` and HTTP/1.0 end it after their answer.
mod common;
use common::*;

fn script(d: &registry_http::Digest, data: &[u8]) -> Vec<u8> {
    let mut all = Vec::new();
    all.extend(req("GET", "/v2/", &[], b""));
    all.extend(req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[],
        data,
    ));
    all.extend(req("HEAD", &format!("/v2/app/blobs/{d}"), &[], b""));
    all.extend(chunked_req(
        "POST",
        &format!("/v2/b/blobs/uploads/?digest={d}"),
        &[],
        data,
        7,
    ));
    all.extend(req(
        "GET",
        &format!("/v2/b/blobs/{d}"),
        &[("Range", "bytes=1-3")],
        b"",
    ));
    all.extend(req("GET", "/v2/nope/tags/list", &[], b""));
    all
}

#[test]
fn pipelined_requests_are_answered_in_order_at_every_split() {
    let data = bytes(100, 8);
    let d = sha256(&data);
    let all = script(&d, &data);
    for split in [1, 2, 3, 5, 13, 64, 200, all.len()] {
        let mut h = Harness::new();
        h.out_buf = 17; // small output pieces too
        h.send_split(&all, split);
        let want = [
            (200, false),
            (201, false),
            (200, true),
            (201, false),
            (206, false),
            (404, false),
        ];
        for (i, (status, head)) in want.iter().enumerate() {
            let r = h
                .next_response(*head)
                .unwrap_or_else(|| panic!("answer {i} at split {split}"));
            assert_eq!(
                r.status,
                *status,
                "answer {i} at split {split}: {}",
                r.text()
            );
            if *status == 206 {
                assert_eq!(r.body, &data[1..4]);
            }
        }
        assert!(h.pending.is_empty());
        assert!(!h.conn.is_closed());
    }
}

#[test]
fn connection_close_and_http10_end_the_connection() {
    let mut h = Harness::new();
    let mut two = req("GET", "/v2/", &[("Connection", "close")], b"");
    two.extend(req("GET", "/v2/", &[], b""));
    h.send(&two);
    let r = h.next_response(false).unwrap();
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(h.next_response(false).is_none(), "nothing after close");
    assert!(h.conn.is_closed());

    let mut h = Harness::new();
    h.send(b"GET /v2/ HTTP/1.0\r\n\r\n");
    assert_eq!(h.next_response(false).unwrap().status, 200);
    assert!(h.conn.is_closed());

    let mut h = Harness::new();
    h.send(b"GET /v2/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(h.next_response(false).unwrap().status, 200);
    assert!(!h.conn.is_closed());
}
