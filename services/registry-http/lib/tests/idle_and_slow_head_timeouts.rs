//! Timeout decisions from the time passed in: idle keep-alive
//! connections close after `idle_timeout`, a head trickled byte by byte
//! is answered 408 and closed `head_timeout` after its first byte,
//! activity moves deadlines.
mod common;
use common::*;
use registry_http::{Limits, Timeout};

#[test]
fn idle_and_slow_heads_time_out() {
    let limits = Limits {
        idle_timeout: 1000,
        head_timeout: 300,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits.clone());
    assert_eq!(h.conn.poll_timeout(&mut h.be, 10), Timeout::At(1000));
    h.now = 500;
    assert_eq!(h.request(&req("GET", "/v2/", &[], b"")).status, 200);
    assert_eq!(h.conn.poll_timeout(&mut h.be, 600), Timeout::At(1500));
    assert_eq!(h.conn.poll_timeout(&mut h.be, 1500), Timeout::Expired);
    assert!(h.conn.is_closed());

    // Slowloris: one byte every 100 ms keeps it active but the head
    // deadline still hits.
    let mut h = Harness::with_limits(limits);
    let raw = req("GET", "/v2/", &[], b"");
    for (i, b) in raw[..10].iter().enumerate() {
        h.now = 100 * i as u64;
        h.send(&[*b]);
        let t = h.conn.poll_timeout(&mut h.be, h.now);
        if h.now >= 300 {
            assert_eq!(t, Timeout::Expired, "at {}", h.now);
            // The slow client is told why before the socket goes.
            let r = h.next_response(false).expect("a 408 answer");
            assert_eq!(r.status, 408);
            assert_eq!(r.header("Connection"), Some("close"));
            assert!(h.conn.is_closed());
            return;
        }
        assert_eq!(t, Timeout::At(300));
    }
    panic!("head timeout never hit");
}
