//! The fs's cache of directories (`src/fs/dir_cache.rs`) never answers a
//! lookup with a directory the live tree no longer has there: after
//! renames, rmdir, whole subtrees removed, directories replaced by files,
//! failed operations that created directories, and snapshot restores, every
//! directory's inode as the cached lookups find it (`mkdir_all` of an
//! existing directory only looks up) equals the one a walk of the tree
//! finds, and fsck is clean. Random operations over a small namespace,
//! deterministic (a fixed seed).

mod common;

use filesystem::{Fs, FsError, Kind};
use testkit::XorShift64;

/// A path of one to three components from a small alphabet, so that
/// operations keep meeting the same directories.
fn path(rng: &mut XorShift64) -> String {
    let depth = 1 + rng.below(3);
    (0..depth)
        .map(|_| ["/a", "/b", "/c"][rng.below(3) as usize])
        .collect()
}

/// Every directory's inode through the cached lookups equals the walk's.
fn check(fs: &mut Fs<common::Store>, step: &str) {
    let dirs: Vec<(String, u64)> = fs
        .walk(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == Kind::Dir && e.path != "/")
        .map(|e| (e.path, e.ino))
        .collect();
    for (p, ino) in dirs {
        assert_eq!(fs.mkdir_all(&p).unwrap(), ino, "{step}: {p}");
    }
    let r = fs.fsck(true).unwrap();
    assert_eq!(r.problem_count, 0, "{step}: {:?}", r.problems);
}

#[test]
fn cached_directories_follow_every_change() {
    let mut fs = common::fresh_fs(4096);
    let mut rng = XorShift64(0xD1C_CAC4E);
    fs.snapshot_create("s").unwrap();
    for step in 0..600 {
        let (p, q) = (path(&mut rng), path(&mut rng));
        let what = match rng.below(10) {
            // What the cached lookups led to is where the tree has it.
            0 | 1 => fs.mkdir_all(&p).map(|ino| {
                assert_eq!(fs.stat(&p).unwrap().ino, ino, "step {step}: mkdir_all {p}");
                "mkdir_all"
            }),
            2 => fs.write_file(&p, b"x").map(|ino| {
                assert_eq!(fs.stat(&p).unwrap().ino, ino, "step {step}: write_file {p}");
                "write_file"
            }),
            3 => fs.rename(&p, &q).map(|_| "rename"),
            4 => fs.rmdir(&p).map(|_| "rmdir"),
            5 => fs.remove_all(&p).map(|_| "remove_all"),
            6 => fs.unlink(&p).map(|_| "unlink"),
            // An operation that creates and looks up directories, then
            // fails: rolled back, its directories never existed.
            7 => fs
                .atomically(|fs| {
                    let ino = fs.mkdir_all(&p)?;
                    assert_eq!(fs.mkdir_all(&p)?, ino);
                    fs.mkdir_all(&format!("{p}/x"))?;
                    Err::<(), _>(FsError::NotFound { path: p.clone() })
                })
                .map(|_| "failed"),
            8 => fs.snapshot_restore("s").map(|_| "restore"),
            _ => fs
                .snapshot_delete("s")
                .and_then(|_| fs.snapshot_create("s"))
                .map(|_| "snapshot"),
        };
        // Refused operations (a missing path, a non-empty directory, a
        // file in the way) are part of the test: they roll back too.
        let what = what.unwrap_or("refused");
        check(&mut fs, &format!("step {step} ({what} {p} {q})"));
    }
    let s = fs.dir_cache_stats();
    assert!(s.hits > 1000, "the cache answered {} lookups", s.hits);
}
