//! Registry GC (`garbage-collect --delete-untagged`): untagged manifests
//! and the blobs only they named are removed; tagged images, index
//! children, referrers and everything written within the grace period (a
//! push in progress) are kept; a dry run removes nothing; abandoned upload
//! sessions are reaped; the store stays consistent.

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{fsck_blocks, Digest, Reference, RegistryGcOptions, RepoName, Tag};

type Reg = filesystem::Registry<common::Store>;

fn blob(reg: &mut Reg, repo: &RepoName, data: &[u8]) -> Digest {
    let d = sha256(data);
    reg.put_blob(&d, &mut &data[..]).unwrap();
    reg.link_blob(repo, &d).unwrap();
    d
}

fn desc(d: &Digest) -> String {
    format!(r#"{{"mediaType":"application/octet-stream","digest":"{d}","size":1}}"#)
}

fn manifest(reg: &mut Reg, repo: &RepoName, r: Option<&str>, body: String) -> Digest {
    let d = sha256(body.as_bytes());
    let reference = match r {
        Some(t) => Reference::Tag(Tag::parse(t).unwrap()),
        None => Reference::Digest(d.clone()),
    };
    reg.put_manifest(repo, &reference, body.as_bytes(), &d)
        .unwrap();
    d
}

fn image(
    reg: &mut Reg,
    repo: &RepoName,
    tag: Option<&str>,
    config: &Digest,
    layer: &Digest,
    subject: Option<&Digest>,
) -> Digest {
    let subject = subject
        .map(|s| format!(r#","subject":{}"#, desc(s)))
        .unwrap_or_default();
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]{subject}}}"#,
        desc(config),
        desc(layer)
    );
    manifest(reg, repo, tag, body)
}

fn options(now: u64, dry_run: bool) -> RegistryGcOptions {
    RegistryGcOptions {
        dry_run,
        delete_untagged: true,
        now,
        grace_secs: 100,
        upload_max_idle_secs: 500,
    }
}

#[test]
fn untagged_manifests_and_their_blobs_go_referenced_and_recent_ones_stay() {
    let mut reg = fresh_registry(16_384);
    reg.fs().set_time(Some(1_000));
    let app = RepoName::parse("app").unwrap();
    let config = blob(&mut reg, &app, b"{\"os\":\"linux\"}");
    let l1 = blob(&mut reg, &app, &noise(1, 200_000));
    let l2 = blob(&mut reg, &app, &noise(2, 200_000));
    let l4 = blob(&mut reg, &app, &noise(4, 50_000));
    let m1 = image(&mut reg, &app, Some("1"), &config, &l1, None);
    let m2 = image(&mut reg, &app, Some("2"), &config, &l2, None);
    // An index whose child was pushed by digest, and a referrer of m1.
    let m3 = image(&mut reg, &app, None, &config, &l4, None);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        desc(&m3)
    );
    let idx = manifest(&mut reg, &app, Some("multi"), index);
    let sig = blob(&mut reg, &app, b"signature");
    let referrer = image(&mut reg, &app, None, &config, &sig, Some(&m1));
    // Tag 2 goes: m2 and l2 are now referenced by nothing.
    reg.delete_manifest(&app, &Reference::Tag(Tag::parse("2").unwrap()))
        .unwrap();
    // A push in progress: a layer uploaded, its manifest not yet pushed;
    // and an abandoned upload session.
    reg.fs().set_time(Some(1_900));
    let pending = blob(&mut reg, &app, &noise(3, 100_000));
    let up = reg
        .begin_upload(Some(&app), filesystem::Algorithm::Sha256)
        .unwrap();
    let abandoned = up.id().to_string();
    drop(up);

    // Within the grace period of everything: nothing goes.
    let r = reg.registry_gc(&options(1_050, false)).unwrap();
    assert_eq!(
        (r.manifests_removed, r.blobs_removed, r.uploads_removed),
        (0, 0, 0),
        "{:?}",
        r.lines
    );
    assert!(reg.has_blob(&l2).unwrap());

    // Later, a dry run says what would go and removes nothing.
    let r = reg.registry_gc(&options(1_950, true)).unwrap();
    assert_eq!(r.manifests_removed, 1, "{:?}", r.lines);
    assert_eq!(r.blobs_removed, 2, "m2 and l2: {:?}", r.lines);
    assert_eq!(r.kept_in_grace, 1, "the pending layer");
    assert!(reg.has_blob(&l2).unwrap() && reg.has_blob(&m2).unwrap());
    assert!(reg
        .resolve(&app, &Reference::Digest(m2.clone()))
        .unwrap()
        .is_some());

    // The real run, after the upload session idled out.
    let r = reg.registry_gc(&options(2_600, false)).unwrap();
    assert_eq!(r.manifests_removed, 1, "{:?}", r.lines);
    assert_eq!(r.uploads_removed, 1, "{:?}", r.lines);
    assert!(
        r.lines.iter().any(|l| l.contains(&abandoned)),
        "{:?}",
        r.lines
    );
    assert!(
        r.chunks.as_ref().is_some_and(|c| c.sweep.chunks > 0),
        "{:?}",
        r.chunks
    );
    assert!(!reg.has_blob(&l2).unwrap() && !reg.has_blob(&m2).unwrap());
    assert!(
        !reg.is_linked(&app, &l2).unwrap(),
        "the layer link went with the blob"
    );
    assert!(reg.resolve(&app, &Reference::Digest(m2)).unwrap().is_none());
    // The pending layer was written at 1900: past the grace at 2600, and
    // still unreferenced, so it went too.
    assert!(!reg.has_blob(&pending).unwrap());
    for d in [&config, &l1, &l4, &sig, &m1, &m3, &idx, &referrer] {
        assert!(reg.has_blob(d).unwrap(), "{d} was removed");
    }
    for t in ["1", "multi"] {
        let r = Reference::Tag(Tag::parse(t).unwrap());
        assert!(reg.get_manifest(&app, &r).unwrap().is_some(), "tag {t}");
    }
    assert!(reg
        .resolve(&app, &Reference::Digest(referrer))
        .unwrap()
        .is_some());
    let report = fsck_blocks(reg.fs(), true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn without_delete_untagged_only_unreferenced_blobs_go() {
    let mut reg = fresh_registry(8_192);
    reg.fs().set_time(Some(10));
    let app = RepoName::parse("lib/app").unwrap();
    let config = blob(&mut reg, &app, b"{}");
    let layer = blob(&mut reg, &app, &noise(9, 10_000));
    let orphan = blob(&mut reg, &app, &noise(8, 10_000));
    let m = image(&mut reg, &app, None, &config, &layer, None);
    let mut o = options(10_000, false);
    o.delete_untagged = false;
    let r = reg.registry_gc(&o).unwrap();
    assert_eq!(
        (r.manifests_removed, r.blobs_removed),
        (0, 1),
        "{:?}",
        r.lines
    );
    assert!(!reg.has_blob(&orphan).unwrap());
    assert!(reg.has_blob(&layer).unwrap() && reg.has_blob(&m).unwrap());
}
