//! `snap space` answers for the moment its run started: files written
//! (some with the very bytes the snapshot holds alone), files deleted,
//! other snapshots removed and taken, the snapshot itself removed, and
//! whole GCs, all between its units, change nothing it answers; the answer
//! equals the reference count made at the start. Once the run is finished
//! its pins go: GC then frees what the removed snapshot held, and fsck is
//! clean.

mod common;
mod space_reference;

use common::{fresh_fs, noise};
use filesystem::fsck_blocks;
use space_reference::{answered, reference};

#[test]
fn changes_between_units_leave_the_answer_of_the_start() {
    let mut fs = fresh_fs(32768);
    for i in 0..60u64 {
        fs.write_file(
            &format!("/d{}/f{i:02}", i % 4),
            &noise(i, 4_000 + i as usize * 500),
        )
        .unwrap();
    }
    fs.write_file("/big", &noise(999, 400_000)).unwrap();
    fs.snapshot_create("target").unwrap();
    fs.unlink("/big").unwrap();
    for i in (0..60u64).step_by(2) {
        fs.write_file(&format!("/d{}/f{i:02}", i % 4), &noise(1000 + i, 6_000))
            .unwrap();
    }
    fs.snapshot_create("other").unwrap();
    fs.snapshot_create("third").unwrap();
    let want = reference(&mut fs, "target");
    assert!(
        want.exclusive_bytes >= 400_000 && want.shared_bytes > 0,
        "{want:?}"
    );

    let mut run = fs.snapshot_space_start_with("target", 6).unwrap();
    let mut round = 0u64;
    while !fs.snapshot_space_step(&mut run, 1).unwrap() {
        round += 1;
        match round % 7 {
            // target's own big file comes back in the live tree.
            0 => drop(fs.write_file("/big-again", &noise(999, 400_000)).unwrap()),
            1 => drop(fs.unlink(&format!("/d{}/f{:02}", round % 4, round % 60))),
            2 if round == 2 => fs.snapshot_delete("other").unwrap(),
            3 => drop(fs.gc(false).unwrap()),
            4 if round == 4 => fs.snapshot_create("later").unwrap(),
            5 if round == 12 => fs.snapshot_delete("target").unwrap(),
            _ => drop(
                fs.write_file(&format!("/new/n{round}"), &noise(5000 + round, 7_000))
                    .unwrap(),
            ),
        }
        assert!(fs.snapshot_space_is_current(&run));
    }
    assert!(round > 20, "only {round} units");
    let got = fs.snapshot_space_finish(run);
    assert_eq!(answered(&got), want, "{got:?}");
    assert_eq!(got.other_trees, 3, "live, other, third at the start");
    assert!(
        fs.snapshot_list()
            .unwrap()
            .iter()
            .all(|s| s.name != "target"),
        "target was removed mid-run"
    );
    // The pins are gone: the removed target's own chunks go at this GC
    // (big came back in the live tree: it stays).
    let r = fs.gc(false).unwrap();
    assert!(r.sweep.chunks > 0, "{r:?}");
    assert!(fs.fsck(true).unwrap().is_clean());
    let b = fsck_blocks(&mut fs, true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{b:?}");
}
