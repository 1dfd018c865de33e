//! Snapshots: create, modify, list, exclusive/shared bytes, diff,
//! restore (the tree equals the snapshot exactly), delete.

mod common;

use common::{fresh_fs, noise, read_all};
use filesystem::{Change, ChangeKind, FsError};

fn change(path: &str, kind: ChangeKind) -> Change {
    Change {
        path: path.to_string(),
        kind,
    }
}

fn contents(fs: &mut filesystem::Fs<common::Store>, snap: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let entries = fs.walk(snap).unwrap();
    entries
        .into_iter()
        .map(|e| {
            let bytes = if e.kind == filesystem::Kind::File {
                fs.read_file_in(snap, &e.path, u64::MAX).unwrap()
            } else {
                Vec::new()
            };
            (e.path, bytes)
        })
        .collect()
}

#[test]
fn create_modify_diff_restore_delete() {
    let mut fs = fresh_fs(16384);
    fs.write_file("/etc/conf", b"v1").unwrap();
    fs.write_file("/data/big", &noise(1, 800_000)).unwrap();
    fs.write_file("/data/gone", b"to be removed").unwrap();
    fs.snapshot_create("s1").unwrap();
    assert!(matches!(
        fs.snapshot_create("s1"),
        Err(FsError::SnapshotExists { .. })
    ));
    assert!(matches!(
        fs.snapshot_create("../x"),
        Err(FsError::BadSnapshotName { .. })
    ));
    let at_s1 = contents(&mut fs, None);
    assert_eq!(contents(&mut fs, Some("s1")), at_s1);

    // Change things.
    fs.write_file("/etc/conf", b"v2").unwrap();
    fs.unlink("/data/gone").unwrap();
    fs.write_file("/data/new", b"fresh").unwrap();
    fs.mkdir_all("/newdir/sub").unwrap();
    let big = fs.stat("/data/big").unwrap().ino;
    fs.write_at(big, 400_000, b"patch").unwrap();
    fs.rename("/etc/conf", "/etc/conf.moved").unwrap();

    // The snapshot still reads the old tree.
    assert_eq!(contents(&mut fs, Some("s1")), at_s1);
    let diff = fs.snapshot_diff(Some("s1"), None).unwrap();
    assert_eq!(
        diff,
        vec![
            change("/data/big", ChangeKind::Modified),
            change("/data/gone", ChangeKind::Removed),
            change("/data/new", ChangeKind::Added),
            change("/etc/conf", ChangeKind::Removed),
            change("/etc/conf.moved", ChangeKind::Added),
            change("/newdir", ChangeKind::Added),
            change("/newdir/sub", ChangeKind::Added),
        ]
    );
    // Reverse direction swaps added and removed.
    let back = fs.snapshot_diff(None, Some("s1")).unwrap();
    assert!(back.contains(&change("/data/gone", ChangeKind::Added)));
    assert!(back.contains(&change("/newdir", ChangeKind::Removed)));
    assert!(fs.snapshot_diff(Some("s1"), Some("s1")).unwrap().is_empty());

    // Two snapshots and their space: s2 shares big's unchanged chunks.
    fs.snapshot_create("s2").unwrap();
    let list = fs.snapshot_list().unwrap();
    assert_eq!(
        list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["s1", "s2"]
    );
    let s1 = fs.snapshot_space("s1").unwrap();
    assert!(s1.shared_bytes >= 600_000, "{s1:?}");
    assert!(
        s1.exclusive_bytes > 0 && s1.exclusive_bytes < 300_000,
        "{s1:?}"
    );
    let s2 = fs.snapshot_space("s2").unwrap();
    assert_eq!(s2.exclusive_bytes, 0, "s2 equals the live tree");

    // Restore s1: the live tree equals the snapshot exactly.
    fs.snapshot_restore("s1").unwrap();
    assert_eq!(contents(&mut fs, None), at_s1);
    assert!(fs.snapshot_diff(Some("s1"), None).unwrap().is_empty());
    assert_eq!(fs.logical_bytes(), 800_000 + 2 + 13);
    // The restored tree is writable and the snapshot stays untouched.
    fs.write_file("/etc/conf", b"v3").unwrap();
    assert_eq!(fs.read_file_in(Some("s1"), "/etc/conf", 10).unwrap(), b"v1");
    assert_eq!(read_all(&mut fs, "/etc/conf"), b"v3");
    assert_eq!(
        fs.read_file_in(Some("s2"), "/data/new", 10).unwrap(),
        b"fresh"
    );

    // Delete.
    fs.snapshot_delete("s2").unwrap();
    assert!(matches!(
        fs.snapshot_delete("s2"),
        Err(FsError::SnapshotNotFound { .. })
    ));
    assert!(matches!(
        fs.snapshot_restore("nope"),
        Err(FsError::SnapshotNotFound { .. })
    ));
    assert_eq!(fs.snapshot_list().unwrap().len(), 1);
    fs.gc(false).unwrap();
    // The event ring tells the story.
    let events: Vec<String> = fs.events().map(String::from).collect();
    for want in [
        "formatted slot 0",
        "snapshot s1 created",
        "live tree restored from snapshot s1",
        "snapshot s2 deleted",
    ] {
        assert!(
            events.iter().any(|e| e == want),
            "{want:?} not in {events:?}"
        );
    }
    assert!(events.last().unwrap().starts_with("gc:"), "{events:?}");
    let report = filesystem::fsck_blocks(&mut fs, true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.garbage_blocks, 0);
}

#[test]
fn snapshot_create_is_constant_time() {
    let mut fs = fresh_fs(16384);
    for i in 0..2000 {
        fs.write_file(&format!("/d{}/f{i}", i % 10), format!("{i}").as_bytes())
            .unwrap();
    }
    let writes_before = fs.device_mut().stats().blocks_written;
    fs.snapshot_create("big").unwrap();
    let written = fs.device_mut().stats().blocks_written - writes_before;
    // One root block, one snapshot-table leaf, and the journal records.
    assert!(written <= 8, "snapshot wrote {written} blocks");
}
