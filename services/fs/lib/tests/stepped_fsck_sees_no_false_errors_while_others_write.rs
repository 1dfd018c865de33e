//! A stepped fsck (`fsck_run`) whose steps interleave with writes, deletes,
//! snapshot create/delete/restore, blob deletes and chunk GC: the pinned
//! run reports no false error and checks exactly the tree it pinned (its
//! blobs verify although they were deleted and collected meanwhile, so
//! GC kept what the run still reads). Unpinned, the same interleaving
//! reports problems that are not there: the pin is what makes it right.

mod common;

use common::{fresh_registry, noise, sha256, Store};
use filesystem::{fsck_blocks, Registry};

const FILES: usize = 600;
const BLOBS: usize = 6;

/// Files over several directory pages, a snapshot, and blobs.
fn populated() -> (Registry<Store>, Vec<filesystem::Digest>) {
    let mut reg = fresh_registry(32768);
    for i in 0..FILES {
        let dir = i % 3;
        reg.fs()
            .write_file(&format!("/d{dir}/f{i:04}"), &noise(i as u64, 3000 + i))
            .unwrap();
    }
    reg.fs().snapshot_create("before").unwrap();
    let mut digests = Vec::new();
    for b in 0..BLOBS {
        let data = noise(1000 + b as u64, 700_000);
        let d = sha256(&data);
        reg.put_blob(&d, &mut &data[..]).unwrap();
        digests.push(d);
    }
    (reg, digests)
}

/// Some change between two steps; `round` picks which.
fn change(reg: &mut Registry<Store>, digests: &[filesystem::Digest], round: usize) {
    let fs = reg.fs();
    match round % 6 {
        0 => fs
            .unlink(&format!("/d0/f{:04}", (round * 3) % FILES))
            .unwrap_or(()),
        1 => {
            fs.write_file(&format!("/d1/new{round}"), &noise(round as u64, 5000))
                .unwrap();
        }
        2 => {
            fs.write_file(&format!("/d2/f{:04}", 2 + 3 * (round % 200)), b"rewritten")
                .unwrap();
        }
        3 => {
            if let Some(d) = digests.get(round / 6 % BLOBS) {
                let _ = reg.delete_blob(d).unwrap();
            }
            reg.fs().gc(false).unwrap();
        }
        4 => {
            let _ = fs.snapshot_delete("before");
            fs.snapshot_create("before").unwrap();
            fs.remove_all("/d1").unwrap();
        }
        _ => {
            let name = format!("s{round}");
            fs.snapshot_create(&name).unwrap();
            fs.snapshot_restore(&name).unwrap();
            fs.snapshot_delete(&name).unwrap();
            fs.gc(false).unwrap();
        }
    }
}

#[test]
fn pinned_stepped_fsck_with_interleaved_changes_reports_no_false_errors() {
    let (mut reg, digests) = populated();
    let whole = reg.fs().fsck(true).unwrap();
    assert!(whole.is_clean(), "{:?}", whole.problems);

    let mut run = reg.fs().fsck_start(true, true).unwrap();
    let mut steps = 0usize;
    while !reg.fs().fsck_step(&mut run, 1).unwrap() {
        change(&mut reg, &digests, steps);
        steps += 1;
    }
    let report = reg.fs().fsck_finish(run);
    assert!(
        steps > 50,
        "only {steps} steps: the test interleaves too little"
    );
    assert!(report.is_clean(), "{:?}", report.problems);
    // It checked the pinned view: every file, every blob, both trees.
    assert_eq!(report.trees, whole.trees);
    assert_eq!(report.files, whole.files);
    assert_eq!(report.extents, whole.extents);
    assert_eq!(report.blobs_verified, BLOBS as u64);
    assert_eq!(report.blobs_verified, whole.blobs_verified);

    // The store is sound after all of it, and unpinned: a GC then leaves
    // no garbage behind (the pinned trees' nodes went too).
    reg.fs().gc(false).unwrap();
    let after = fsck_blocks(reg.fs(), true).unwrap();
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(after.garbage_blocks, 0);
}

#[test]
fn unpinned_stepped_fsck_with_the_same_changes_reports_false_errors() {
    let (mut reg, digests) = populated();
    let mut run = reg.fs().fsck_start(true, false).unwrap();
    let mut steps = 0usize;
    let mut failed = None;
    loop {
        match reg.fs().fsck_step(&mut run, 1) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        change(&mut reg, &digests, steps);
        steps += 1;
    }
    let report = reg.fs().fsck_finish(run);
    // The store itself is sound: the errors were the run's own.
    assert!(reg.fs().fsck(true).unwrap().is_clean());
    assert!(
        failed.is_some() || !report.is_clean(),
        "an unpinned run saw no trouble in {steps} steps: this test no longer shows why runs pin"
    );
}
