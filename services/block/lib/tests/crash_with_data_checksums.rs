//! The crash simulation of `crash_random_workloads.rs` on a store formatted
//! with data checksums: after every crash, every allocated block must match
//! its checksum table entry (reads verify them, fsck checks them all).
//! Full run: `CRASH_STATES=full cargo test -p block --release -- --ignored`.

mod common;

use std::sync::atomic::Ordering;

#[test]
fn crash_states_with_data_checksums_quick() {
    common::DATA_CHECKSUMS.store(true, Ordering::Relaxed);
    let mut checked = 0;
    for seed in 1..4 {
        let w = common::run_workload(seed, 30);
        checked += common::check_workload(&w, false, 40, 2);
    }
    println!("crash states checked with data checksums: {checked}");
    assert!(checked >= 200, "only {checked} crash states");
}

#[test]
#[ignore = "full run: CRASH_STATES=full cargo test -p block --release -- --ignored"]
fn crash_states_with_data_checksums_full() {
    common::DATA_CHECKSUMS.store(true, Ordering::Relaxed);
    let mut checked = 0;
    let mut seed = 300;
    while checked < 10_000 {
        let w = common::run_workload(seed, 40);
        checked += common::check_workload(&w, true, 0, 3);
        seed += 1;
    }
    println!("crash states checked with data checksums: {checked} (seeds 300..{seed})");
}
