//! `snap space` in bounded steps equals a straightforward count: on a
//! store with several snapshots that share chunks with each other and with
//! the live tree and that hold chunks of their own, with a chunk named
//! twice inside one snapshot (two files of the same bytes), multi-chunk
//! files, two snapshots of the same moment, and a snapshot nobody else
//! shares anything with, every snapshot's stepped answer (units of a few
//! nodes, one unit a step) and its one-call answer equal the reference
//! computed from whole files and sets (`space_reference`).

mod common;
mod space_reference;

use common::{fresh_fs, noise, Store};
use filesystem::{Fs, FsError};
use space_reference::{answered, reference};

fn build() -> Fs<Store> {
    let mut fs = fresh_fs(16384);
    // Multi-chunk, small, and the same bytes twice (dedup inside a tree).
    fs.write_file("/a/big", &noise(1, 600_000)).unwrap();
    fs.write_file("/a/small", &noise(2, 5_000)).unwrap();
    fs.write_file("/b/copy-of-small", &noise(2, 5_000)).unwrap();
    fs.write_file("/b/mid", &noise(3, 90_000)).unwrap();
    for i in 0..40u64 {
        fs.write_file(&format!("/many/f{i:02}"), &noise(100 + i, 3_000))
            .unwrap();
    }
    fs.snapshot_create("s1").unwrap();
    // Changed after s1: big and mid replaced, small removed (its copy
    // stays).
    fs.write_file("/a/big", &noise(7, 600_000)).unwrap();
    fs.write_file("/b/mid", &noise(4, 70_000)).unwrap();
    fs.unlink("/a/small").unwrap();
    fs.write_file("/c/new", &noise(5, 20_000)).unwrap();
    fs.snapshot_create("s2").unwrap();
    // Two snapshots of one moment: each shares everything with the other.
    fs.snapshot_create("s2-twin").unwrap();
    // s1's old mid comes back under another name: shared again.
    fs.write_file("/d/old-mid", &noise(3, 90_000)).unwrap();
    fs.unlink("/a/big").unwrap();
    for i in (0..40u64).step_by(3) {
        fs.unlink(&format!("/many/f{i:02}")).unwrap();
    }
    // A snapshot holding a file nobody else has.
    fs.write_file("/lone", &noise(6, 300_000)).unwrap();
    fs.snapshot_create("lone").unwrap();
    fs.unlink("/lone").unwrap();
    // An empty file and a snapshot of it: no chunk.
    fs.write_file("/empty", b"").unwrap();
    fs
}

#[test]
fn every_snapshot_stepped_equals_the_reference() {
    let mut fs = build();
    let mut nonzero_exclusive = 0;
    for name in ["s1", "s2", "s2-twin", "lone"] {
        let want = reference(&mut fs, name);
        let mut run = fs.snapshot_space_start_with(name, 8).unwrap();
        let mut steps = 0u64;
        while !fs.snapshot_space_step(&mut run, 1).unwrap() {
            steps += 1;
        }
        let got = fs.snapshot_space_finish(run);
        assert!(got.complete, "{name}: {got:?}");
        assert_eq!(answered(&got), want, "{name}: {got:?}");
        assert_eq!(got.exclusive_bytes + got.shared_bytes, got.stored_bytes);
        assert_eq!(got.other_trees, 4, "the live tree and three snapshots");
        assert!(steps > 10, "{name}: only {steps} steps of 8 nodes");
        assert_eq!(
            answered(&fs.snapshot_space(name).unwrap()),
            want,
            "{name}: one call"
        );
        nonzero_exclusive += usize::from(got.exclusive_bytes > 0);
        eprintln!("{name}: {got:?} in {steps} steps");
    }
    // The set-up's own checks: the store is what the scenario says.
    let twin = fs.snapshot_space("s2-twin").unwrap();
    assert_eq!(twin.exclusive_bytes, 0, "{twin:?}");
    let lone = fs.snapshot_space("lone").unwrap();
    assert!(lone.exclusive_bytes >= 300_000, "{lone:?}");
    let s1 = fs.snapshot_space("s1").unwrap();
    // Its big (600 KB) is s1's alone; its mid came back in the live tree.
    assert!(s1.exclusive_bytes >= 600_000, "{s1:?}");
    assert!(s1.exclusive_bytes < 690_000, "{s1:?}");
    assert!(nonzero_exclusive >= 2);
}

#[test]
fn a_name_that_is_no_snapshot_is_refused_and_pins_nothing() {
    let mut fs = build();
    match fs.snapshot_space_start("nope") {
        Err(FsError::SnapshotNotFound { name }) => assert_eq!(name, "nope"),
        other => panic!(
            "expected SnapshotNotFound, got {:?}",
            other.map(|r| r.report().clone())
        ),
    }
    assert!(matches!(
        fs.snapshot_space_start("bad/name"),
        Err(FsError::BadSnapshotName { .. })
    ));
    // Nothing stayed pinned: GC frees what a deleted snapshot held.
    fs.snapshot_delete("lone").unwrap();
    let r = fs.gc(false).unwrap();
    assert!(r.sweep.bytes >= 300_000, "{r:?}");
}
