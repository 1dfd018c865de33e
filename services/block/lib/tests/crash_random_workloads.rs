//! Crash simulation: seeded random transaction workloads against the
//! recording device; the power is cut at every flush point and at sampled
//! points between flushes, with unflushed writes dropped, kept, reordered and
//! torn. Each crash image must mount, show exactly one committed state at
//! least as new as the last returned Durable commit, and pass fsck.
//!
//! `cargo test` runs a quick subset. The full run (>= 10,000 crash states):
//! `CRASH_STATES=full cargo test -p block --release --test crash_random_workloads -- --ignored --nocapture`.
//! A failure prints the workload seed, cut and random seed; replay one with
//! `CRASH_SEED=<seed>`.

mod common;

fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    match std::env::var("CRASH_SEED") {
        Ok(s) => {
            let seed: u64 = s.parse().expect("CRASH_SEED is a number");
            seed..seed + 1
        }
        Err(_) => default,
    }
}

#[test]
fn crash_states_quick() {
    let mut checked = 0;
    for seed in seeds_from_env(1..4) {
        let w = common::run_workload(seed, 30);
        checked += common::check_workload(&w, false, 40, 2);
    }
    println!("crash states checked: {checked}");
    assert!(checked >= 200, "only {checked} crash states");
}

#[test]
#[ignore = "full run: CRASH_STATES=full cargo test -p block --release -- --ignored"]
fn crash_states_full() {
    let target: usize = match std::env::var("CRASH_STATES").as_deref() {
        Ok("full") | Err(_) => 10_000,
        Ok(n) => n.parse().expect("CRASH_STATES is `full` or a number"),
    };
    let mut checked = 0;
    let mut seed = 100;
    let explicit = std::env::var("CRASH_SEED").is_ok();
    for s in seeds_from_env(100..u64::MAX) {
        seed = s;
        let w = common::run_workload(s, 40);
        checked += common::check_workload(&w, true, 0, 3);
        if checked >= target || explicit {
            break;
        }
    }
    println!("crash states checked: {checked} (seeds 100..={seed})");
    assert!(explicit || checked >= target);
}
