//! A stepped fsck pins the snapshot table with the live tree, and checks
//! the snapshots the pinned table names one at a time. While it runs,
//! every snapshot is deleted and GC runs (one-call and stepped) between
//! its units: the GC marks and reaches the trees the fsck's pinned table
//! names, so the fsck reads no freed node and misses no chunk (no false
//! problem), though each snapshot held a file nothing else holds. Once
//! the fsck is done, the next GC frees those files.

mod common;

use common::{fresh_fs, noise};
use filesystem::fsck_blocks;

const SNAPSHOTS: u64 = 60;

#[test]
fn snapshots_deleted_and_collected_during_a_stepped_fsck_give_no_false_problem() {
    let mut fs = fresh_fs(32768);
    for i in 0..40u64 {
        fs.write_file(&format!("/d/f{i}"), &noise(i, 2000)).unwrap();
    }
    for s in 0..SNAPSHOTS {
        let own = format!("/own/o{s}");
        fs.write_file(&own, &noise(1000 + s, 6000)).unwrap();
        fs.snapshot_create(&format!("s{s:03}")).unwrap();
        fs.unlink(&own).unwrap();
    }
    let mut run = fs.fsck_start(true, true).unwrap();
    let (mut round, mut deleted) = (0u64, 0u64);
    while !fs.fsck_step(&mut run, 1).unwrap() {
        round += 1;
        if deleted < SNAPSHOTS {
            // From the last name down: the fsck has not checked them yet.
            let s = SNAPSHOTS - 1 - deleted;
            fs.snapshot_delete(&format!("s{s:03}")).unwrap();
            deleted += 1;
        }
        match round % 3 {
            0 => drop(fs.gc(false).unwrap()),
            1 => {
                let mut gc = fs.gc_start(false).unwrap();
                while !fs.gc_step(&mut gc, 4).unwrap() {
                    fs.write_file("/d/f1", &noise(round, 2100)).unwrap();
                }
                fs.gc_finish(gc);
            }
            _ => drop(
                fs.write_file(&format!("/new/n{round}"), &noise(round, 500))
                    .unwrap(),
            ),
        }
    }
    assert_eq!(deleted, SNAPSHOTS, "the fsck ended after {round} units");
    let report = fs.fsck_finish(run);
    assert!(report.is_clean(), "false problems: {:?}", report.problems);
    assert_eq!(report.trees, SNAPSHOTS + 1);
    assert!(fs.snapshot_list().unwrap().is_empty());
    // Unpinned: the snapshots' own files go now.
    let gc = fs.gc(false).unwrap();
    assert!(gc.sweep.chunks >= SNAPSHOTS, "{gc:?}");
    let b = fsck_blocks(&mut fs, true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{b:?}");
}
