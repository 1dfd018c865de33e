//! Recovery is idempotent: a power cut at any point of the mount that
//! replays the journal (dropped, kept, reordered or torn writes) leaves a
//! disk that mounts to exactly the state the uninterrupted recovery shows.

mod common;

use block::crash::{CutMode, RecordingDevice, SplitMix};
use block::BlockStore;

#[test]
fn cut_during_replay_recovers_the_same_state() {
    let mut checked = 0;
    let mut replays = 0;
    for seed in 1..4u64 {
        let w = common::run_workload(seed, 30);
        let mut rng = SplitMix(seed * 77);
        let n = w.device.ops().len();
        for _ in 0..12 {
            let cut = rng.below(n as u64 + 1) as usize;
            let image = w.device.crash_image(cut, CutMode::Random, &mut rng);
            let store = BlockStore::mount(RecordingDevice::new(image), common::config()).unwrap();
            if store.stats().transactions_replayed > 0 {
                replays += 1;
            }
            let recording = store.into_device();
            let expected = w
                .check_image(recording.live_image().to_vec(), cut)
                .unwrap_or_else(|e| panic!("seed {seed} cut {cut}: {e}"));
            for rcut in 0..=recording.ops().len() {
                for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
                    let rseed = rng.next_u64();
                    let second = recording.crash_image(rcut, mode, &mut SplitMix(rseed));
                    match w.check_image(second, cut) {
                        Ok(j) if j == expected => {}
                        Ok(j) => panic!(
                            "seed {seed} cut {cut} recovery cut {rcut} {mode:?} ({rseed}): state {j}, uninterrupted recovery showed {expected}"
                        ),
                        Err(e) => panic!("seed {seed} cut {cut} recovery cut {rcut} {mode:?} ({rseed}): {e}"),
                    }
                    checked += 1;
                }
            }
        }
    }
    println!(
        "recovery crash states checked: {checked} ({replays} recoveries replayed transactions)"
    );
    assert!(
        replays > 5,
        "too few crash images needed a replay: {replays}"
    );
}
