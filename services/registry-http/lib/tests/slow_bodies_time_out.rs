//! A request body must keep up a minimum average rate: a body trickled a
//! byte at a time is answered 408 and closed once it falls behind
//! `body_timeout` plus the time its bytes earn at `body_min_rate`, and
//! what it started is undone; a body sent steadily above the rate is
//! never cut, however long it takes. (Only the idle timeout bounded a
//! trickled body before: a byte a minute held a connection for ever.)
mod common;
use common::*;
use registry_http::{Limits, Timeout};

fn limits() -> Limits {
    Limits {
        idle_timeout: 10_000,
        body_timeout: 300,
        body_min_rate: 500,
        ..Limits::default()
    }
}

/// The head of a monolithic blob push of `len` bytes (its body follows).
fn push_head(digest: &str, len: usize) -> Vec<u8> {
    let path = format!("/v2/app/blobs/uploads/?digest={digest}");
    req("POST", &path, &[("Content-Length", &len.to_string())], b"")
}

#[test]
fn a_trickled_body_is_answered_408_and_undone() {
    let mut h = Harness::with_limits(limits());
    let data = bytes(10_000, 7);
    let d = sha256(&data);
    h.send(&push_head(&d.to_string(), data.len()));
    // One byte every 100 time units: 10 bytes a second against a
    // minimum of 500. The deadline is 300 + 2 per byte received.
    let mut expired_at = None;
    for (i, b) in data.iter().enumerate() {
        h.now = 100 * (i as u64 + 1);
        h.send(&[*b]);
        match h.conn.poll_timeout(&mut h.be, h.now) {
            Timeout::At(t) => assert_eq!(t, 300 + 2 * (i as u64 + 1), "at {}", h.now),
            Timeout::Expired => {
                expired_at = Some(h.now);
                break;
            }
        }
    }
    assert_eq!(expired_at, Some(400), "the body fell behind its deadline");
    let r = h
        .next_response(false)
        .expect("a 408 answer before the close");
    assert_eq!(r.status, 408);
    assert!(r.text().contains("too slowly"), "{}", r.text());
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(h.conn.is_closed());
    assert!(
        h.be.blob_bytes(&d).is_none(),
        "nothing of the cut body is a blob"
    );
    assert_eq!(h.be.open_uploads(), 0, "the push's session was undone");
}

#[test]
fn a_steady_body_above_the_rate_is_never_cut() {
    let mut h = Harness::with_limits(limits());
    let data = bytes(10_000, 8);
    let d = sha256(&data);
    h.send(&push_head(&d.to_string(), data.len()));
    // 100 bytes every 100 time units: 1000 a second, twice the minimum;
    // it takes 10 000 units, far past the 300 the base allows.
    for (i, piece) in data.chunks(100).enumerate() {
        h.now = 100 * (i as u64 + 1);
        assert!(
            matches!(h.conn.poll_timeout(&mut h.be, h.now), Timeout::At(_)),
            "cut at {}",
            h.now
        );
        h.send(piece);
    }
    let r = h.next_response(false).expect("an answer");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(h.be.blob_bytes(&d), Some(&data[..]));
    // Between requests only the idle timeout applies again.
    assert_eq!(
        h.conn.poll_timeout(&mut h.be, h.now),
        Timeout::At(h.now + 10_000)
    );
}
