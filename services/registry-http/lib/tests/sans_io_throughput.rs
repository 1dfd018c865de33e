//! A figure, not a check of correctness: MB/s of a 64 MiB monolithic push
//! (1460-byte input pieces, as TCP segments arrive) and of its pull
//! (64 KiB output buffer) through the connection and the in-memory
//! backend, whose SHA-256 is included. Run with
//! `cargo test --release -p registry-http --test sans_io_throughput -- --ignored --nocapture`.
mod common;
use common::*;
use std::time::Instant;

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn push_and_pull_64_mib() {
    let mut h = Harness::new();
    let data = bytes(64 << 20, 14);
    let d = sha256(&data);
    let raw = req(
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    let t = Instant::now();
    h.send_split(&raw, 1460);
    let r = h.next_response(false).unwrap();
    let push = t.elapsed().as_secs_f64();
    assert_eq!(r.status, 201);
    let t = Instant::now();
    let r = h.request(&req("GET", &format!("/v2/app/blobs/{d}"), &[], b""));
    let pull = t.elapsed().as_secs_f64();
    assert_eq!(r.body.len(), data.len());
    println!("sans_io_push_MBps: {:.0}", 64.0 * 1.048576 / push);
    println!("sans_io_pull_MBps: {:.0}", 64.0 * 1.048576 / pull);
}
