//! Scenario: a directory and a repository have quotas; every write that
//! would pass one (put, append, write, truncate growing a file, a blob put,
//! an upload piece, a manifest, a mount of a blob into the repository) is
//! refused with `QuotaExceeded` naming the target and both numbers, before
//! anything reaches the device (its recorded write count is unchanged),
//! and what was stored is intact. Writes within the limit pass.

mod common;

use block::BlockStore;
use common::{noise, recording_fs, sha256};
use filesystem::{Fs, FsError, QuotaTarget, Reference, Registry, RegistryError, RepoName};
use testkit::RecordingDevice;

/// Writes and flushes the device has seen.
fn ops(fs: &mut Fs<BlockStore<RecordingDevice>>) -> usize {
    fs.device_mut().device().ops().len()
}

fn quota_error(e: &FsError) -> (String, u64, u64) {
    match e {
        FsError::QuotaExceeded {
            target,
            would,
            limit,
        } => (target.to_string(), *would, *limit),
        other => panic!("expected QuotaExceeded, got {other}"),
    }
}

fn reg_quota_error(e: &RegistryError) -> (String, u64, u64) {
    match e {
        RegistryError::Fs(e) => quota_error(e),
        other => panic!("expected QuotaExceeded, got {other}"),
    }
}

#[test]
fn quota_refuses_before_writing() {
    let mut fs = recording_fs(4096);
    fs.write_file("/data/a", &noise(1, 6000)).unwrap();
    let data = QuotaTarget::dir("/data").unwrap();
    let q = fs.quota_set(&data, 10_000).unwrap();
    assert_eq!(q.used, 6000, "usage counted when the limit is set");

    let before = ops(&mut fs);

    // A put announcing 5000 bytes for a new file: 11000 > 10000.
    let e = fs.check_quota("/data/b", 5000).unwrap_err();
    assert_eq!(quota_error(&e), ("directory /data".into(), 11_000, 10_000));
    assert_eq!(
        e.to_string(),
        "quota exceeded: directory /data would store 10.7 KiB of its 9.7 KiB limit"
    );
    let ino = fs.stat("/data/a").unwrap().ino;
    assert!(matches!(
        fs.append(ino, &noise(2, 4001)),
        Err(FsError::QuotaExceeded { .. })
    ));
    assert!(matches!(
        fs.write_at(ino, 9990, b"past the limit"),
        Err(FsError::QuotaExceeded { .. })
    ));
    assert!(matches!(
        fs.write_file("/data/new", &noise(3, 4001)),
        Err(FsError::QuotaExceeded { .. })
    ));
    assert!(matches!(
        fs.truncate("/data/a", 1 << 30),
        Err(FsError::QuotaExceeded { .. })
    ));
    assert_eq!(ops(&mut fs), before, "a refused write reached the device");
    assert_eq!(fs.read_file("/data/a", u64::MAX).unwrap(), noise(1, 6000));
    assert!(!fs.exists("/data/new").unwrap());

    // Within the limit, and elsewhere, writes pass; replacing a file
    // counts only its growth.
    fs.append(ino, &noise(2, 4000)).unwrap();
    fs.write_file("/data/a", &noise(4, 10_000)).unwrap();
    fs.write_file("/other/big", &noise(5, 50_000)).unwrap();
    assert_eq!(fs.quota(&data).unwrap().unwrap().used, 10_000);

    // The registry: a repository limit.
    let mut reg = Registry::new(fs);
    let repo = RepoName::parse("library/alpine").unwrap();
    let rq = QuotaTarget::repo(&repo).unwrap();
    reg.fs().quota_set(&rq, 20_000).unwrap();
    let layer = noise(6, 15_000);
    let d = sha256(&layer);
    reg.put_blob_into(&d, &mut &layer[..], Some(&repo)).unwrap();
    assert_eq!(reg.fs().quota(&rq).unwrap().unwrap().used, 15_000);

    let big = noise(7, 6000);
    let bd = sha256(&big);
    let e = reg
        .put_blob_into(&bd, &mut &big[..], Some(&repo))
        .unwrap_err();
    assert_eq!(
        reg_quota_error(&e),
        ("repository library/alpine".into(), 21_000, 20_000)
    );
    let e = reg.check_blob_quota(Some(&repo), &bd, 6000).unwrap_err();
    assert_eq!(reg_quota_error(&e).1, 21_000);
    // An upload piece of the repository's session.
    let mut up = reg
        .begin_upload(Some(&repo), filesystem::Algorithm::Sha256)
        .unwrap();
    let after_begin = ops(reg.fs());
    assert!(matches!(
        reg.upload_write(&mut up, &big),
        Err(RegistryError::Fs(FsError::QuotaExceeded { .. }))
    ));
    assert_eq!(
        ops(reg.fs()),
        after_begin,
        "a refused piece reached the device"
    );
    // The same piece filled in place (the service's lease path) is refused
    // before `fill` runs.
    let r = reg.upload_write_with(&mut up, big.len(), |_buf: &mut [u8]| -> Result<(), ()> {
        panic!("a refused piece was filled")
    });
    assert!(matches!(
        r,
        Err(RegistryError::Fs(FsError::QuotaExceeded { .. }))
    ));
    assert_eq!(
        ops(reg.fs()),
        after_begin,
        "a refused filled piece reached the device"
    );
    reg.abort_upload(up).unwrap();
    // A manifest of 6000 bytes.
    let before = ops(reg.fs());
    let manifest = noise(8, 6000);
    let md = sha256(&manifest);
    let e = reg
        .put_manifest(&repo, &Reference::Digest(md.clone()), &manifest, &md)
        .unwrap_err();
    assert_eq!(reg_quota_error(&e).1, 21_000);
    assert_eq!(
        ops(reg.fs()),
        before,
        "a refused manifest reached the device"
    );
    // A blob another repository holds, mounted into this one.
    let other = RepoName::parse("library/debian").unwrap();
    reg.put_blob_into(&bd, &mut &big[..], Some(&other)).unwrap();
    let before = ops(reg.fs());
    let e = reg.link_blob(&repo, &bd).unwrap_err();
    assert_eq!(reg_quota_error(&e).1, 21_000);
    assert_eq!(ops(reg.fs()), before, "a refused mount reached the device");
    assert!(!reg.is_linked(&repo, &bd).unwrap());
    assert_eq!(reg.fs().quota(&rq).unwrap().unwrap().used, 15_000);
    // A small manifest fits.
    let small = br#"{"schemaVersion":2}"#;
    let sd = sha256(small);
    reg.put_manifest(&repo, &Reference::Digest(sd.clone()), small, &sd)
        .unwrap();
    assert_eq!(
        reg.fs().quota(&rq).unwrap().unwrap().used,
        15_000 + small.len() as u64
    );
}
