//! Scenario: with limits on two top-level directories and two
//! repositories, usage follows every change (write, append, truncate both
//! ways, put sessions, rename of files and directories across top-level
//! directories, unlink, remove_all, snapshot restore; blob puts, mounts, unlinks, manifests
//! put and deleted, uploads written, cancelled and finished) and equals a
//! recount after each; a layer two repositories link counts in both; it
//! all survives a remount, and fsck finds nothing to report.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::{noise, sha256, Store};
use filesystem::{Algorithm, Fs, QuotaTarget, Reference, Registry, RepoName, Tag};

const BIG: u64 = 1 << 40;

/// Asserts each limit's usage is `expected` and equals a recount.
fn usage(fs: &mut Fs<Store>, expected: &[(&QuotaTarget, u64)], step: &str) {
    for (t, want) in expected {
        let q = fs.quota(t).unwrap().expect("limit set");
        let counted = fs.quota_recount(t).unwrap();
        assert_eq!((q.used, counted), (*want, *want), "{t} after {step}");
    }
    assert!(fs.quota_mismatches().unwrap().is_empty(), "after {step}");
}

#[test]
fn quota_usage_follows_every_change() {
    let store = BlockStore::format(MemDevice::new(8192), Config::default()).unwrap();
    let mut fs = Fs::open(store, 0).unwrap();
    let a = QuotaTarget::dir("/a").unwrap();
    let b = QuotaTarget::dir("/b").unwrap();
    fs.write_file("/a/old", &noise(1, 1000)).unwrap();
    fs.quota_set(&a, BIG).unwrap();
    fs.quota_set(&b, BIG).unwrap();
    usage(&mut fs, &[(&a, 1000), (&b, 0)], "set");

    fs.write_file("/a/x/f", &noise(2, 5000)).unwrap();
    usage(&mut fs, &[(&a, 6000), (&b, 0)], "write_file");
    let ino = fs.stat("/a/x/f").unwrap().ino;
    fs.append(ino, &noise(3, 500)).unwrap();
    usage(&mut fs, &[(&a, 6500)], "append");
    fs.truncate("/a/x/f", 100).unwrap();
    usage(&mut fs, &[(&a, 1100)], "truncate down");
    fs.truncate("/a/x/f", 1 << 20).unwrap();
    usage(&mut fs, &[(&a, 1000 + (1 << 20))], "truncate up (a hole)");
    fs.write_at(ino, 0, b"head").unwrap();
    usage(&mut fs, &[(&a, 1000 + (1 << 20))], "write inside");
    fs.truncate("/a/x/f", 300).unwrap();

    let mut s = fs.put_begin("/b/put").unwrap();
    fs.put_write(&mut s, &noise(4, 7000)).unwrap();
    usage(&mut fs, &[(&a, 1300), (&b, 0)], "put staged (not counted)");
    fs.put_finish(s).unwrap();
    usage(&mut fs, &[(&b, 7000)], "put finished");
    fs.write_file("/b/put", &noise(5, 2000)).unwrap();
    usage(&mut fs, &[(&b, 2000)], "replaced");

    fs.rename("/a/old", "/b/moved").unwrap();
    usage(&mut fs, &[(&a, 300), (&b, 3000)], "file renamed across");
    fs.rename("/b/moved", "/b/again").unwrap();
    usage(&mut fs, &[(&b, 3000)], "file renamed within");
    fs.rename("/a/x", "/b/x").unwrap();
    usage(&mut fs, &[(&a, 0), (&b, 3300)], "directory renamed across");
    fs.rename("/b/again", "/top").unwrap();
    usage(&mut fs, &[(&b, 2300)], "renamed to the root");
    fs.write_file("/c/q", &noise(6, 10)).unwrap();
    fs.rename("/c", "/a/c").unwrap();
    usage(
        &mut fs,
        &[(&a, 10)],
        "a top-level directory moved below another",
    );
    // A snapshot restore brings back the tree with its usage (and limits).
    fs.snapshot_create("before-growth").unwrap();
    fs.write_file("/b/extra", &noise(9, 4000)).unwrap();
    usage(&mut fs, &[(&b, 6300)], "written after the snapshot");
    fs.snapshot_restore("before-growth").unwrap();
    usage(&mut fs, &[(&a, 10), (&b, 2300)], "snapshot restored");
    fs.unlink("/b/put").unwrap();
    usage(&mut fs, &[(&b, 300)], "unlink");
    fs.remove_all("/b/x").unwrap();
    usage(&mut fs, &[(&b, 0)], "remove_all");

    // The registry.
    let mut reg = Registry::new(fs);
    reg.set_piece_size(4096);
    let alpine = RepoName::parse("library/alpine").unwrap();
    let debian = RepoName::parse("library/debian").unwrap();
    let ra = QuotaTarget::repo(&alpine).unwrap();
    let rd = QuotaTarget::repo(&debian).unwrap();
    let docker = QuotaTarget::dir("/docker").unwrap();
    reg.fs().quota_set(&ra, BIG).unwrap();
    reg.fs().quota_set(&rd, BIG).unwrap();
    reg.fs().quota_set(&docker, BIG).unwrap();
    let layer = noise(7, 20_000); // several pieces: the streamed path
    let ld = sha256(&layer);
    reg.put_blob_into(&ld, &mut &layer[..], Some(&alpine))
        .unwrap();
    usage(reg.fs(), &[(&ra, 20_000), (&rd, 0)], "blob put");
    reg.link_blob(&debian, &ld).unwrap();
    usage(
        reg.fs(),
        &[(&ra, 20_000), (&rd, 20_000)],
        "mount (dedup counts twice)",
    );
    reg.link_blob(&debian, &ld).unwrap();
    usage(reg.fs(), &[(&rd, 20_000)], "mount again");
    let manifest = br#"{"schemaVersion":2,"layers":[]}"#.to_vec();
    let md = sha256(&manifest);
    let v1 = Reference::Tag(Tag::parse("v1").unwrap());
    reg.put_manifest(&alpine, &v1, &manifest, &md).unwrap();
    let m = manifest.len() as u64;
    usage(reg.fs(), &[(&ra, 20_000 + m)], "manifest put");
    reg.put_manifest(
        &alpine,
        &Reference::Tag(Tag::parse("v2").unwrap()),
        &manifest,
        &md,
    )
    .unwrap();
    usage(
        reg.fs(),
        &[(&ra, 20_000 + m)],
        "second tag (tags cost nothing)",
    );

    let mut up = reg.begin_upload(Some(&alpine), Algorithm::Sha256).unwrap();
    let piece = noise(8, 9000);
    reg.upload_write(&mut up, &piece).unwrap();
    // Pieces are stored in steps: what counts is what is stored.
    let stored = reg.fs().quota(&ra).unwrap().unwrap().used - 20_000 - m;
    assert!(stored <= 9000);
    usage(reg.fs(), &[(&rd, 20_000)], "upload written");
    reg.abort_upload(up).unwrap();
    usage(reg.fs(), &[(&ra, 20_000 + m)], "upload cancelled");
    let mut up = reg.begin_upload(Some(&alpine), Algorithm::Sha256).unwrap();
    reg.upload_write(&mut up, &piece).unwrap();
    reg.finish_upload_into(up, &sha256(&piece), Some(&alpine))
        .unwrap();
    usage(reg.fs(), &[(&ra, 29_000 + m)], "upload finished");

    // Remount: limits and usage are on the disk.
    let store = reg.into_fs().into_device().unmount().unwrap();
    let store =
        BlockStore::mount(MemDevice::from_image(store.into_image()), Config::default()).unwrap();
    let mut reg = Registry::new(Fs::open(store, 0).unwrap());
    usage(
        reg.fs(),
        &[(&ra, 29_000 + m), (&rd, 20_000), (&a, 10), (&b, 0)],
        "remount",
    );

    assert!(reg.unlink_blob(&debian, &ld).unwrap());
    usage(reg.fs(), &[(&rd, 0)], "unlink");
    assert!(reg
        .delete_manifest(&alpine, &Reference::Digest(md.clone()))
        .unwrap());
    usage(reg.fs(), &[(&ra, 29_000)], "manifest deleted");
    // The blob itself removed (as GC would once nothing links it): the
    // link that still names it counts 0 (and again once it is back).
    assert!(reg.delete_blob(&ld).unwrap());
    usage(reg.fs(), &[(&ra, 9000)], "blob removed under a link");
    reg.put_blob_into(&ld, &mut &layer[..], None).unwrap();
    usage(reg.fs(), &[(&ra, 29_000)], "blob stored again");
    // The whole registry moved away and back: its repositories count
    // nothing while it is elsewhere.
    reg.fs().rename("/docker", "/moved").unwrap();
    usage(reg.fs(), &[(&ra, 0), (&docker, 0)], "registry moved away");
    reg.fs().rename("/moved", "/docker").unwrap();
    usage(reg.fs(), &[(&ra, 29_000)], "registry moved back");
    // A whole repository removed.
    reg.fs()
        .remove_all("/docker/registry/v2/repositories/library/alpine")
        .unwrap();
    usage(reg.fs(), &[(&ra, 0)], "repository removed");
    let report = reg.fs().fsck(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(reg.fs().quota_remove(&ra).unwrap());
    assert!(!reg.fs().quota_remove(&ra).unwrap());
    assert_eq!(reg.fs().quotas().unwrap().len(), 4);
}
