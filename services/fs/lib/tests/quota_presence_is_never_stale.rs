//! Scenario: whether any limit is set is remembered between writes (a
//! small put asked it with a range scan several times: issue #13), so the
//! remembered answer must follow every way a limit comes or goes: set,
//! removed, a failed operation that had set one, a snapshot restore
//! bringing one back or taking one away, a remount. After each, a write
//! past the limit is refused exactly when a limit is there.

mod common;

use common::{fresh_fs, noise, sha256, Store};
use filesystem::{Fs, FsError, QuotaTarget, Registry, RegistryError, RepoName};

/// Whether writing `len` more bytes into `/d` is refused by a quota.
fn refused(fs: &mut Fs<Store>, name: &str, len: usize) -> bool {
    match fs.write_file(&format!("/d/{name}"), &noise(len as u64, len)) {
        Ok(_) => {
            fs.unlink(&format!("/d/{name}")).unwrap();
            false
        }
        Err(FsError::QuotaExceeded { .. }) => true,
        Err(e) => panic!("unexpected {e}"),
    }
}

#[test]
fn quota_presence_is_never_stale() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/d/a", &noise(1, 1000)).unwrap();
    let d = QuotaTarget::dir("/d").unwrap();
    assert!(!refused(&mut fs, "b", 5000), "no limit yet (remembered)");

    fs.quota_set(&d, 2000).unwrap();
    assert!(refused(&mut fs, "b", 5000), "a limit set is seen");
    // Inside one transaction too (the write is checked by its hook).
    let in_txn = fs.atomically(|fs| fs.write_file("/d/c", &noise(3, 5000)));
    assert!(matches!(in_txn, Err(FsError::QuotaExceeded { .. })));

    assert!(fs.quota_remove(&d).unwrap());
    assert!(!refused(&mut fs, "b", 5000), "a limit removed is gone");

    // A failed operation that set a limit (and asked about limits after)
    // leaves no limit, nor a memory of one.
    let failed: Result<(), FsError> = fs.atomically(|fs| {
        fs.quota_set(&d, 2000)?;
        assert!(matches!(
            fs.write_file("/d/c", &noise(4, 5000)),
            Err(FsError::QuotaExceeded { .. })
        ));
        Err(FsError::NotFound {
            path: "/abandon".into(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(fs.quotas().unwrap(), []);
    assert!(!refused(&mut fs, "b", 5000), "the undone limit is not seen");

    // Restores: the limit comes back with the tree that had it, and goes
    // with the tree that did not.
    fs.snapshot_create("without").unwrap();
    fs.quota_set(&d, 2000).unwrap();
    fs.snapshot_create("with").unwrap();
    fs.quota_remove(&d).unwrap();
    assert!(!refused(&mut fs, "b", 5000));
    fs.snapshot_restore("with").unwrap();
    assert!(refused(&mut fs, "b", 5000), "restored limit is seen");
    fs.snapshot_restore("without").unwrap();
    assert!(!refused(&mut fs, "b", 5000), "restored absence is seen");

    // A remount reads the limits afresh.
    fs.quota_set(&d, 2000).unwrap();
    let store = fs.into_device();
    let mut fs = Fs::open(store, 0).unwrap();
    assert!(refused(&mut fs, "b", 5000), "limit seen after a remount");
    fs.quota_remove(&d).unwrap();
    assert!(!refused(&mut fs, "b", 5000));

    // The registry's small put: a repository limit set after puts that
    // found none is enforced on the next one.
    let mut reg = Registry::new(fs);
    let repo = RepoName::parse("lib/app").unwrap();
    let blob = |i: u64| noise(100 + i, 4096);
    reg.put_blob_into(&sha256(&blob(0)), &mut &blob(0)[..], Some(&repo))
        .unwrap();
    let r = QuotaTarget::repo(&repo).unwrap();
    reg.fs().quota_set(&r, 6000).unwrap();
    let e = reg
        .put_blob_into(&sha256(&blob(1)), &mut &blob(1)[..], Some(&repo))
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Fs(FsError::QuotaExceeded { .. })),
        "{e}"
    );
    assert!(!reg.has_blob(&sha256(&blob(1))).unwrap());
    assert!(reg.fs().fsck(true).unwrap().is_clean());
}
