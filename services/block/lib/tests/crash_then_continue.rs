//! After a crash the recovered store keeps working and stays crash-safe: a
//! second random workload runs on the crashed disk (its recovery recorded
//! too) and is itself cut at flush points and sampled points.
//! Replay one chain with `CRASH_SEED=<seed>`.

mod common;

use block::crash::{CutMode, SplitMix};

fn chained(seed: u64, cuts: usize, every_cut: bool) -> usize {
    let w = common::run_workload(seed, 30);
    let n = w.device.ops().len();
    let mut rng = SplitMix(seed ^ 0xABCD);
    let mut checked = 0;
    for _ in 0..cuts {
        let cut = rng.below(n as u64 + 1) as usize;
        let image = w.device.crash_image(cut, CutMode::Random, &mut rng);
        let j = w
            .check_image(image.clone(), cut)
            .unwrap_or_else(|e| panic!("seed {seed} first cut {cut}: {e}"));
        let second_seed = seed.wrapping_mul(31).wrapping_add(7);
        let w2 = common::run_workload_from(second_seed, image, w.states[j].clone(), 15);
        checked += common::check_workload(&w2, every_cut, 30, 2);
    }
    checked
}

fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    match std::env::var("CRASH_SEED") {
        Ok(s) => {
            let seed: u64 = s.parse().expect("CRASH_SEED is a number");
            seed..seed + 1
        }
        Err(_) => default,
    }
}

#[test]
fn crash_recover_continue_crash_quick() {
    let checked: usize = seeds(1..4).map(|s| chained(s, 4, false)).sum();
    println!("chained crash states checked: {checked}");
    assert!(checked >= 200, "only {checked}");
}

#[test]
#[ignore = "full run: CRASH_STATES=full cargo test -p block --release -- --ignored"]
fn crash_recover_continue_crash_full() {
    let checked: usize = seeds(200..230).map(|s| chained(s, 6, true)).sum();
    println!("chained crash states checked: {checked}");
    assert!(checked >= 10_000, "only {checked}");
}
