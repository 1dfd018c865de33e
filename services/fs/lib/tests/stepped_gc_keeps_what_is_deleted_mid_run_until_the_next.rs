//! Files deleted while a stepped chunk GC is marking are still marked
//! through the run's pinned view: that run keeps their chunks (it must not
//! read a tree that changed under it), and the next GC reclaims them.

mod common;

use common::{fresh_fs, noise};
use filesystem::{fsck_blocks, GcSteps};

const FILES: u64 = 1200;

#[test]
fn chunks_deleted_between_steps_survive_the_run_and_go_at_the_next() {
    let mut fs = fresh_fs(32768);
    for i in 0..FILES {
        fs.write_file(&format!("/f/{i:04}"), &noise(i, 3000))
            .unwrap();
    }
    let chunks_before = fs.stats().unwrap().chunks;

    let steps = GcSteps {
        sweep: 16,
        free: 4,
        reach: 16,
    };
    let mut run = fs.gc_start_with(false, steps).unwrap();
    // One page of the live tree is marked; then almost everything goes,
    // and new data is written over whatever the deletes freed.
    assert!(!fs.gc_step(&mut run, 1).unwrap());
    for i in 0..FILES - 10 {
        fs.unlink(&format!("/f/{i:04}")).unwrap();
    }
    for i in 0..40u64 {
        fs.write_file(&format!("/g/{i}"), &noise(10_000 + i, 5000))
            .unwrap();
    }
    while !fs.gc_step(&mut run, 1).unwrap() {}
    let report = fs.gc_finish(run);
    assert_eq!(report.sweep.chunks, 0, "{report:?}");
    assert!(report.extents_scanned >= FILES, "{report:?}");
    assert_eq!(fs.stats().unwrap().chunks, chunks_before + 40);
    let b = fsck_blocks(&mut fs, true).unwrap();
    assert!(b.is_clean(), "{:?}", b.problems);

    let next = fs.gc(false).unwrap();
    assert_eq!(next.sweep.chunks, FILES - 10, "{next:?}");
    for i in FILES - 10..FILES {
        assert_eq!(
            fs.read_file(&format!("/f/{i:04}"), u64::MAX).unwrap(),
            noise(i, 3000)
        );
    }
    for i in 0..40u64 {
        assert_eq!(
            fs.read_file(&format!("/g/{i}"), u64::MAX).unwrap(),
            noise(10_000 + i, 5000)
        );
    }
    let b = fsck_blocks(&mut fs, true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{b:?}");
}
