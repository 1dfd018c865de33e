//! Every registry call (seed 000's StorageDriver) with its edge cases, and
//! the exact reference tree it leaves.

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{layout, Digest, Reference, RegistryError, RepoName, Tag};

fn put(reg: &mut filesystem::Registry<common::Store>, data: &[u8]) -> Digest {
    let d = sha256(data);
    let mut src: &[u8] = data;
    assert_eq!(reg.put_blob(&d, &mut src).unwrap(), data.len() as u64);
    d
}

fn get(reg: &mut filesystem::Registry<common::Store>, d: &Digest) -> Option<Vec<u8>> {
    let mut r = reg.get_blob(d).unwrap()?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 10_000];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Some(out)
}

#[test]
fn blobs_has_get_size_put_delete() {
    let mut reg = fresh_registry(8192);
    let data = noise(1, 500_000);
    let d = sha256(&data);
    assert!(!reg.has_blob(&d).unwrap());
    assert_eq!(reg.blob_size(&d).unwrap(), None);
    assert!(reg.get_blob(&d).unwrap().is_none());
    put(&mut reg, &data);
    assert!(reg.has_blob(&d).unwrap());
    assert_eq!(reg.blob_size(&d).unwrap(), Some(500_000));
    assert_eq!(get(&mut reg, &d).unwrap(), data);
    // Putting the same blob again is fine and changes nothing.
    put(&mut reg, &data);
    assert_eq!(reg.list_blobs().unwrap(), vec![d.clone()]);
    // Empty blob.
    let empty = put(&mut reg, b"");
    assert_eq!(get(&mut reg, &empty).unwrap(), Vec::<u8>::new());
    assert_eq!(reg.blob_size(&empty).unwrap(), Some(0));
    // sha512 and blake3 digests are accepted too.
    let d512 = filesystem::digest::Hasher::digest_of(filesystem::Algorithm::Sha512, b"x512");
    reg.put_blob(&d512, &mut &b"x512"[..]).unwrap();
    assert_eq!(get(&mut reg, &d512).unwrap(), b"x512");
    let db3 = filesystem::digest::Hasher::digest_of(filesystem::Algorithm::Blake3, b"xb3");
    reg.put_blob(&db3, &mut &b"xb3"[..]).unwrap();
    assert!(reg.fs().exists(&layout::blob_data(&db3)).unwrap());
    // Delete: true once, then missing is not an error.
    assert!(reg.delete_blob(&d).unwrap());
    assert!(!reg.delete_blob(&d).unwrap());
    assert!(!reg.has_blob(&d).unwrap());
    // No upload is left behind.
    assert!(reg.list_uploads(None).unwrap().is_empty());
    assert!(reg.fs().fsck(true).unwrap().is_clean());
}

#[test]
fn layer_links_and_exact_link_bytes() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("myorg/team/image").unwrap();
    let d = put(&mut reg, b"layer");
    reg.link_blob(&repo, &d).unwrap();
    assert!(reg.is_linked(&repo, &d).unwrap());
    let bytes = reg
        .fs()
        .read_file(&layout::layer_link(&repo, &d), 1000)
        .unwrap();
    assert_eq!(bytes.len(), 71);
    assert_eq!(bytes, format!("sha256:{}", d.hex()).into_bytes());
    assert!(reg.unlink_blob(&repo, &d).unwrap());
    assert!(!reg.unlink_blob(&repo, &d).unwrap());
    assert!(!reg.is_linked(&repo, &d).unwrap());
    // The blob itself stays (blobs are global).
    assert!(reg.has_blob(&d).unwrap());
}

#[test]
fn manifests_by_tag_and_digest() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("library/app").unwrap();
    let m1 = br#"{"schemaVersion":2,"layers":[1]}"#.to_vec();
    let m2 = br#"{"schemaVersion":2,"layers":[2]}"#.to_vec();
    let (d1, d2) = (sha256(&m1), sha256(&m2));
    let latest = Reference::Tag(Tag::parse("latest").unwrap());
    let v1 = Reference::parse("v1").unwrap();
    assert_eq!(reg.get_manifest(&repo, &latest).unwrap(), None);
    reg.put_manifest(&repo, &latest, &m1, &d1).unwrap();
    reg.put_manifest(&repo, &v1, &m1, &d1).unwrap();
    assert_eq!(
        reg.get_manifest(&repo, &latest).unwrap(),
        Some((m1.clone(), d1.clone()))
    );
    let by_digest = Reference::Digest(d1.clone());
    assert_eq!(
        reg.get_manifest(&repo, &by_digest).unwrap(),
        Some((m1.clone(), d1.clone()))
    );
    // Retag latest: current moves, index keeps both.
    reg.put_manifest(&repo, &latest, &m2, &d2).unwrap();
    assert_eq!(reg.get_manifest(&repo, &latest).unwrap().unwrap().1, d2);
    let t = Tag::parse("latest").unwrap();
    assert!(reg
        .fs()
        .exists(&layout::tag_index_link(&repo, &t, &d1))
        .unwrap());
    assert!(reg
        .fs()
        .exists(&layout::tag_index_link(&repo, &t, &d2))
        .unwrap());
    assert_eq!(reg.list_tags(&repo).unwrap(), vec!["latest", "v1"]);
    // Wrong digest for the content: refused, nothing written.
    let r = reg.put_manifest(&repo, &Reference::parse("bad").unwrap(), &m1, &d2);
    assert!(matches!(r, Err(RegistryError::Mismatch(_))));
    assert_eq!(reg.list_tags(&repo).unwrap(), vec!["latest", "v1"]);
    // Put by digest writes no tag.
    let m3 = b"{\"manifests\":[]}".to_vec();
    let d3 = sha256(&m3);
    reg.put_manifest(&repo, &Reference::Digest(d3.clone()), &m3, &d3)
        .unwrap();
    assert_eq!(reg.list_tags(&repo).unwrap(), vec!["latest", "v1"]);
    assert!(reg
        .get_manifest(&repo, &Reference::Digest(d3.clone()))
        .unwrap()
        .is_some());
    // Delete by digest removes the revision and every tag pointing at it.
    assert!(reg.delete_manifest(&repo, &by_digest).unwrap());
    assert_eq!(reg.list_tags(&repo).unwrap(), vec!["latest"]);
    assert_eq!(reg.get_manifest(&repo, &by_digest).unwrap(), None);
    assert!(!reg.delete_manifest(&repo, &by_digest).unwrap());
    // Delete by tag removes only the tag.
    assert!(reg.delete_manifest(&repo, &latest).unwrap());
    assert!(reg.list_tags(&repo).unwrap().is_empty());
    assert!(reg
        .get_manifest(&repo, &Reference::Digest(d2))
        .unwrap()
        .is_some());
    assert!(!reg.delete_manifest(&repo, &latest).unwrap());
    assert!(reg.fs().fsck(true).unwrap().is_clean());
}

#[test]
fn tag_without_revision_link_is_not_served() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("a/b").unwrap();
    let m = b"{}".to_vec();
    let d = sha256(&m);
    let tag = Reference::parse("t").unwrap();
    reg.put_manifest(&repo, &tag, &m, &d).unwrap();
    reg.fs()
        .remove_all(&layout::revision_link_dir(&repo, &d))
        .unwrap();
    assert_eq!(reg.get_manifest(&repo, &tag).unwrap(), None);
}

#[test]
fn corrupt_link_is_an_error_not_data() {
    let mut reg = fresh_registry(4096);
    let repo = RepoName::parse("a/b").unwrap();
    let m = b"{}".to_vec();
    let d = sha256(&m);
    let tag = Reference::parse("t").unwrap();
    reg.put_manifest(&repo, &tag, &m, &d).unwrap();
    let t = Tag::parse("t").unwrap();
    let mut with_newline = format!("sha256:{}", d.hex()).into_bytes();
    with_newline.push(b'\n');
    reg.fs()
        .write_file(&layout::tag_current_link(&repo, &t), &with_newline)
        .unwrap();
    assert!(matches!(
        reg.get_manifest(&repo, &tag),
        Err(RegistryError::BadLink { .. })
    ));
    assert!(!reg.fs().fsck(false).unwrap().is_clean());
}

#[test]
fn nested_repositories_listed_like_the_catalog() {
    let mut reg = fresh_registry(4096);
    let d = put(&mut reg, b"shared layer");
    for name in [
        "alpine",
        "myorg/team/image",
        "myorg/tool",
        "myorg/team/image/sub",
        "z9",
    ] {
        reg.link_blob(&RepoName::parse(name).unwrap(), &d).unwrap();
    }
    // A repository with only manifests is not in the catalog (no _layers).
    let m = b"{}".to_vec();
    reg.put_manifest(
        &RepoName::parse("only/manifests").unwrap(),
        &Reference::parse("x").unwrap(),
        &m,
        &sha256(&m),
    )
    .unwrap();
    assert_eq!(
        reg.list_repositories().unwrap(),
        vec![
            "alpine",
            "myorg/team/image",
            "myorg/team/image/sub",
            "myorg/tool",
            "z9"
        ]
    );
}

#[test]
fn streaming_upload_across_many_transactions() {
    let mut reg = fresh_registry(16384);
    reg.set_piece_size(64 * 1024);
    let repo = RepoName::parse("up/load").unwrap();
    let data = noise(5, 3_000_000);
    let d = sha256(&data);
    let mut up = reg
        .begin_upload(Some(&repo), filesystem::Algorithm::Sha256)
        .unwrap();
    // The upload is visible under the repository's _uploads while running.
    let ids = reg.list_uploads(Some(&repo)).unwrap();
    assert_eq!(ids, vec![up.id().to_string()]);
    for piece in data.chunks(100_000) {
        reg.upload_write(&mut up, piece).unwrap();
    }
    assert_eq!(up.size(), 3_000_000);
    reg.finish_upload(up, &d).unwrap();
    assert!(reg.list_uploads(Some(&repo)).unwrap().is_empty());
    assert_eq!(get(&mut reg, &d).unwrap(), data);
    // Abort leaves nothing.
    let mut up = reg
        .begin_upload(Some(&repo), filesystem::Algorithm::Sha256)
        .unwrap();
    reg.upload_write(&mut up, b"partial").unwrap();
    reg.abort_upload(up).unwrap();
    assert!(reg.list_uploads(Some(&repo)).unwrap().is_empty());
    assert!(!reg.remove_upload(Some(&repo), "00ff").unwrap());
    assert!(matches!(
        reg.remove_upload(Some(&repo), "../x"),
        Err(RegistryError::NoSuchUpload { .. })
    ));
}

#[test]
fn corrupt_blob_is_reported_not_served() {
    let mut reg = fresh_registry(4096);
    let d = put(&mut reg, b"original bytes");
    // Replace the data file's contents behind the registry's back.
    reg.fs()
        .write_file(&layout::blob_data(&d), b"tampered bytes")
        .unwrap();
    let mut r = reg.get_blob(&d).unwrap().unwrap();
    let mut buf = vec![0u8; 100];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(n, 14);
    assert!(matches!(
        r.read(&mut buf),
        Err(RegistryError::CorruptBlob(_))
    ));
    assert!(matches!(
        reg.read_blob(&d, 1000),
        Err(RegistryError::CorruptBlob(_))
    ));
    let report = reg.fs().fsck(true).unwrap();
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
}
