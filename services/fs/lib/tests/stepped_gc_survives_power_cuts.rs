//! Power cuts during a stepped chunk GC whose steps interleave with
//! writes, overwrites, deletes and snapshots (the block reach's units
//! included): at flush points and sampled points between them, with
//! unflushed writes dropped, kept, or reordered and torn. After recovery the store equals the state after some
//! acknowledged operation (never older than the last durable one), fsck
//! (filesystem, content store, trees, block layer) is clean, and one more
//! GC leaves no garbage block.

mod common;

use block::{BlockStore, MemDevice};
use common::{crash_config, fingerprint, noise};
use filesystem::{fsck_blocks, Fs, GcStage, GcSteps};
use testkit::{crash_image, CutMode, Cuts, RecordingDevice, SplitMix};

type Rec = BlockStore<RecordingDevice>;

struct Run {
    device: RecordingDevice,
    /// states[0] before the first acknowledged operation, states[i+1]
    /// after the i-th; `ends[i]`: recorded device ops when it returned.
    states: Vec<[u8; 32]>,
    ends: Vec<usize>,
    labels: Vec<String>,
}

fn workload() -> Run {
    let mut fs = common::recording_fs(4096);
    let mut states = vec![fingerprint(&mut fs)];
    let (mut ends, mut labels) = (Vec::new(), Vec::new());
    let mut ack = |fs: &mut Fs<Rec>, label: String| {
        ends.push(fs.device_mut().device().ops().len());
        labels.push(label);
        states.push(fingerprint(fs));
    };
    // Every operation is durable when it returns: each is acknowledged.
    for i in 0..30u64 {
        fs.write_file(&format!("/d/f{i:02}"), &noise(i, 9000))
            .unwrap();
        ack(&mut fs, format!("fill {i}"));
    }
    fs.snapshot_create("old").unwrap();
    ack(&mut fs, "snapshot old".into());
    for i in (0..30u64).step_by(2) {
        fs.write_file(&format!("/d/f{i:02}"), &noise(100 + i, 6000))
            .unwrap();
        ack(&mut fs, format!("overwrite {i}"));
    }
    for i in (1..30u64).step_by(4) {
        fs.unlink(&format!("/d/f{i:02}")).unwrap();
        ack(&mut fs, format!("unlink {i}"));
    }
    fs.snapshot_delete("old").unwrap();
    ack(&mut fs, "delete old".into());

    let steps = GcSteps {
        sweep: 2,
        free: 1,
        reach: 4,
    };
    let mut run = fs.gc_start_with(false, steps).unwrap();
    ack(&mut fs, "gc start".into());
    let (mut round, mut in_reach) = (0u64, 0u64);
    loop {
        let stage = run.stage();
        if fs.gc_step(&mut run, 1).unwrap() {
            break;
        }
        ack(&mut fs, format!("gc step {round}"));
        round += 1;
        in_reach += u64::from(stage == GcStage::Reach);
        let label = match round % 4 {
            0 => {
                fs.write_file(&format!("/new/n{round}"), &noise(500 + round, 7000))
                    .unwrap();
                "write"
            }
            1 => {
                let _ = fs.unlink(&format!("/d/f{:02}", (round * 7) % 30));
                "unlink"
            }
            2 => {
                fs.write_file(&format!("/d/f{:02}", (round * 3) % 30), b"short")
                    .unwrap();
                "overwrite"
            }
            _ => {
                let name = format!("s{}", round % 3);
                if fs.snapshot_delete(&name).is_err() {
                    fs.snapshot_create(&name).unwrap();
                }
                "snapshot"
            }
        };
        ack(&mut fs, format!("{label} after step {round}"));
    }
    fs.gc_finish(run);
    ack(&mut fs, "gc done".into());
    assert!(round > 20, "only {round} steps");
    // Changes between the block reach's units too (its pins are in
    // memory only: a cut there pins nothing).
    assert!(in_reach > 5, "only {in_reach} reach steps");
    let device = fs.into_device().into_device();
    Run {
        device,
        states,
        ends,
        labels,
    }
}

/// Checks one crash image; returns the state it recovered to.
fn check(run: &Run, cut: usize, mode: CutMode, seed: u64) -> usize {
    let image = crash_image(&run.device, cut, mode, seed);
    let ctx = format!("cut {cut} mode {mode:?} seed {seed}");
    let store = BlockStore::mount(MemDevice::from_image(image), crash_config())
        .unwrap_or_else(|e| panic!("{ctx}: block mount: {e:?}"));
    let mut fs = Fs::open(store, 0).unwrap_or_else(|e| panic!("{ctx}: fs mount: {e}"));
    let got = fingerprint(&mut fs);
    // Every operation here is durable when it returns: from the last one
    // returned before the cut up to the next (it may have committed).
    let lo = run.ends.iter().filter(|&&e| e <= cut).count();
    let hi = (lo + 1).min(run.states.len() - 1);
    let Some(k) = (lo..=hi).find(|&k| run.states[k] == got) else {
        panic!(
            "{ctx}: recovered state is none of {lo}..={hi} (after {:?}); matches {:?}",
            lo.checked_sub(1).map(|i| &run.labels[i]),
            run.states.iter().position(|s| *s == got)
        );
    };
    let report = fsck_blocks(&mut fs, true).unwrap_or_else(|e| panic!("{ctx}: fsck: {e}"));
    assert!(report.is_clean(), "{ctx}: fsck: {:?}", report.problems);
    fs.gc(false).unwrap_or_else(|e| panic!("{ctx}: gc: {e}"));
    let report = fsck_blocks(&mut fs, false).unwrap();
    assert!(
        report.is_clean() && report.garbage_blocks == 0,
        "{ctx}: after gc: {report:?}"
    );
    k
}

#[test]
fn power_cuts_during_a_stepped_gc_with_writes_between_steps_keep_the_store_whole() {
    let run = workload();
    let cuts = Cuts::at_flushes(&run.device)
        .before_flushes(2)
        .random(40, &mut SplitMix(7))
        .to_vec();
    let mut reached = std::collections::BTreeSet::new();
    for (i, &cut) in cuts.iter().enumerate() {
        for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
            reached.insert(check(&run, cut, mode, i as u64));
        }
    }
    println!(
        "{} cuts, {} states, {} distinct states recovered",
        cuts.len(),
        run.states.len(),
        reached.len()
    );
    assert!(
        reached.len() > run.states.len() / 3,
        "only {} of {} states reached",
        reached.len(),
        run.states.len()
    );
    assert_eq!(
        check(&run, run.device.ops().len(), CutMode::DropAll, 0),
        run.states.len() - 1
    );
}
