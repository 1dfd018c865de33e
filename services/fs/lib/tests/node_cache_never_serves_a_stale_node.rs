//! The fs's cache of tree nodes (`src/node_cache.rs`) never serves an
//! image that is no longer its block's: after aborted operations, after
//! tree nodes are freed and their blocks reused (a whole directory removed,
//! then new files), after a snapshot restore and GC, and after a remount,
//! the namespace read through the cache equals a model, and fsck is clean.

mod common;

use std::collections::BTreeMap;

use filesystem::{Fs, FsError, Kind};

type Model = BTreeMap<String, Vec<u8>>;

fn files(fs: &mut Fs<common::Store>) -> Model {
    let entries = fs.walk(None).unwrap();
    entries
        .into_iter()
        .filter(|e| e.kind == Kind::File)
        .map(|e| {
            let bytes = fs.read_file(&e.path, u64::MAX).unwrap();
            (e.path, bytes)
        })
        .collect()
}

fn check(fs: &mut Fs<common::Store>, model: &Model, step: &str) {
    assert_eq!(&files(fs), model, "after {step}");
    for (path, bytes) in model {
        assert_eq!(
            &fs.read_file(path, u64::MAX).unwrap(),
            bytes,
            "{step}: {path}"
        );
    }
    let r = fs.fsck(true).unwrap();
    assert_eq!(r.problem_count, 0, "{step}: {:?}", r.problems);
}

/// Enough files in one directory to fill several tree leaves.
fn fill(fs: &mut Fs<common::Store>, model: &mut Model, dir: &str, n: u64, seed: u64) {
    for i in 0..n {
        let path = format!("{dir}/file-with-a-longish-name-{i:04}");
        let data = common::noise(seed + i, 64 + (i as usize % 7) * 100);
        fs.write_file(&path, &data).unwrap();
        model.insert(path, data);
    }
}

#[test]
fn aborts_frees_restores_and_remounts_read_fresh_nodes() {
    let mut fs = common::fresh_fs(8192);
    fs.set_group_commit(true);
    let mut model = Model::new();
    fill(&mut fs, &mut model, "/a", 300, 1);
    fill(&mut fs, &mut model, "/b", 100, 1000);
    check(&mut fs, &model, "filling");

    // 1. Aborted operations: their node writes must not be seen.
    for i in 0..20u64 {
        let r: Result<(), FsError> = fs.atomically(|fs| {
            fs.write_file(&format!("/a/file-with-a-longish-name-{i:04}"), b"aborted")?;
            fs.remove_all("/b")?;
            fs.write_file(&format!("/c/new-{i}"), b"aborted too")?;
            Err(FsError::InvalidPath {
                path: "/".into(),
                reason: "the test aborts",
            })
        });
        assert!(r.is_err());
    }
    check(&mut fs, &model, "aborted operations");

    // 2. Nodes freed (a whole directory's leaves), their blocks reused.
    assert!(fs.remove_all("/a").unwrap());
    model.retain(|p, _| !p.starts_with("/a/"));
    fs.sync().unwrap();
    fill(&mut fs, &mut model, "/c", 300, 5000);
    check(&mut fs, &model, "remove and refill");

    // 3. Snapshot, change, restore, GC (frees the changed copies), refill.
    fs.snapshot_create("s").unwrap();
    let at_snapshot = model.clone();
    fill(&mut fs, &mut model, "/c", 300, 9000);
    assert!(fs.remove_all("/b").unwrap());
    fs.snapshot_restore("s").unwrap();
    model = at_snapshot;
    check(&mut fs, &model, "snapshot restore");
    fs.snapshot_delete("s").unwrap();
    fs.gc(false).unwrap();
    fs.sync().unwrap();
    fill(&mut fs, &mut model, "/d", 200, 20000);
    check(&mut fs, &model, "gc and refill");

    // 4. Remount: a new cache over what the old one left on disk.
    fs.sync().unwrap();
    let mut fs = Fs::open(fs.into_device(), 0).unwrap();
    check(&mut fs, &model, "remount");
    let hits = fs.node_cache_stats().hits;
    assert!(hits > 0, "the checks above read through the cache");
}
