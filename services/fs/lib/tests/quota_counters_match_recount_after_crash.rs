//! Scenario: the power is cut at every recorded write and flush of a
//! workload that changes what quotas count (files written, appended,
//! truncated, renamed across top-level directories and removed; blobs
//! put and mounted, manifests put and deleted, uploads written, cancelled
//! and finished), with unflushed writes dropped, kept, or reordered and
//! torn. After recovery every stored usage equals a recount of the tree
//! it sits in: counters and data commit together.
//! (That a wrong counter is caught: `quota::tests::fsck_reports_a_counter_that_disagrees`.)

mod common;

use block::{BlockStore, MemDevice};
use common::{crash_config, noise, recording_fs, sha256};
use filesystem::{Algorithm, Fs, QuotaTarget, Reference, Registry, RepoName, Tag};
use testkit::{crash_image, CutMode, RecordingDevice};

fn workload() -> RecordingDevice {
    let mut fs = recording_fs(4096);
    let alpine = RepoName::parse("library/alpine").unwrap();
    let debian = RepoName::parse("library/debian").unwrap();
    for t in [
        QuotaTarget::dir("/a").unwrap(),
        QuotaTarget::dir("/b").unwrap(),
        QuotaTarget::dir("/docker").unwrap(),
        QuotaTarget::repo(&alpine).unwrap(),
        QuotaTarget::repo(&debian).unwrap(),
    ] {
        fs.quota_set(&t, 1 << 40).unwrap();
    }
    fs.mkdir("/b").unwrap();
    fs.write_file("/a/f", &noise(1, 30_000)).unwrap();
    let ino = fs.stat("/a/f").unwrap().ino;
    fs.append(ino, &noise(2, 9000)).unwrap();
    fs.truncate("/a/f", 12_345).unwrap();
    fs.rename("/a/f", "/b/f").unwrap();
    fs.write_file("/a/d/g", &noise(3, 7000)).unwrap();
    fs.rename("/a/d", "/b/d").unwrap();
    fs.unlink("/b/f").unwrap();

    let mut reg = Registry::new(fs);
    reg.set_piece_size(8192);
    let layer = noise(4, 40_000);
    let ld = sha256(&layer);
    reg.put_blob_into(&ld, &mut &layer[..], Some(&alpine))
        .unwrap();
    reg.link_blob(&debian, &ld).unwrap();
    let manifest = br#"{"schemaVersion":2}"#;
    let md = sha256(manifest);
    let tag = Reference::Tag(Tag::parse("v1").unwrap());
    reg.put_manifest(&alpine, &tag, manifest, &md).unwrap();
    let mut up = reg.begin_upload(Some(&debian), Algorithm::Sha256).unwrap();
    reg.upload_write(&mut up, &noise(5, 20_000)).unwrap();
    reg.abort_upload(up).unwrap();
    let piece = noise(6, 25_000);
    let mut up = reg.begin_upload(Some(&debian), Algorithm::Sha256).unwrap();
    reg.upload_write(&mut up, &piece).unwrap();
    reg.finish_upload_into(up, &sha256(&piece), Some(&debian))
        .unwrap();
    reg.delete_manifest(&alpine, &Reference::Digest(md))
        .unwrap();
    reg.unlink_blob(&alpine, &ld).unwrap();
    reg.into_fs().into_device().into_device()
}

fn mount(image: Vec<u8>) -> Fs<BlockStore<MemDevice>> {
    let store = BlockStore::mount(MemDevice::from_image(image), crash_config()).unwrap();
    Fs::open(store, 0).unwrap()
}

#[test]
fn quota_counters_match_recount_after_crash() {
    let dev = workload();
    let n = dev.ops().len();
    assert!(n > 50, "only {n} recorded ops");
    let mut checked = 0;
    let mut distinct = std::collections::BTreeSet::new();
    for cut in 0..=n {
        let mut modes = vec![(CutMode::DropAll, 0), (CutMode::KeepAll, 0)];
        if cut % 4 == 0 {
            modes.push((CutMode::Random, cut as u64));
        }
        for (mode, seed) in modes {
            let mut fs = mount(crash_image(&dev, cut, mode, seed));
            let bad = fs.quota_mismatches().unwrap();
            assert!(bad.is_empty(), "cut {cut} {mode:?}: {bad:?}");
            let used: Vec<u64> = fs.quotas().unwrap().iter().map(|q| q.used).collect();
            distinct.insert(used);
            checked += 1;
        }
    }
    println!(
        "{checked} crash states over {n} ops, {} distinct usages",
        distinct.len()
    );
    // The cuts landed between the workload's steps: many usages were seen.
    assert!(
        distinct.len() >= 10,
        "only {} distinct usages",
        distinct.len()
    );
}
