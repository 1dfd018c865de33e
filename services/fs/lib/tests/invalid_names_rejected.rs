//! Names, tags, digests and references from users are validated before
//! they become paths: traversal and malformed input get clear errors.

use filesystem::names::{DigestError, NameError, TagError};
use filesystem::{Digest, Reference, RegistryError, RepoName, Tag};

#[test]
fn traversal_and_absolute_names_refused() {
    assert_eq!(RepoName::parse("/etc/passwd"), Err(NameError::Absolute));
    assert!(matches!(
        RepoName::parse("a/../../etc"),
        Err(NameError::DotComponent { .. })
    ));
    assert!(matches!(
        RepoName::parse("repo/_uploads"),
        Err(NameError::LeadingUnderscore { .. })
    ));
    assert!(matches!(
        RepoName::parse("repo/_layers/x"),
        Err(NameError::LeadingUnderscore { .. })
    ));
    assert!(matches!(
        RepoName::parse("a//b"),
        Err(NameError::EmptyComponent { index: 1 })
    ));
    assert!(matches!(
        RepoName::parse("UPPER"),
        Err(NameError::BadChar { ch: 'U', at: 0 })
    ));
    assert!(RepoName::parse(&"a".repeat(256)).is_err());
    let msg = RepoName::parse("a/../b").unwrap_err().to_string();
    assert!(msg.contains(".."), "{msg}");
}

#[test]
fn bad_tags_and_digests_refused() {
    assert!(matches!(
        Tag::parse("../x"),
        Err(TagError::BadFirst { ch: '.' })
    ));
    assert!(matches!(
        Tag::parse("a/b"),
        Err(TagError::BadChar { ch: '/', .. })
    ));
    assert!(matches!(
        Digest::parse("sha256:abc"),
        Err(DigestError::WrongLength { len: 3, .. })
    ));
    assert!(matches!(
        Digest::parse("sha256:../../../../etc"),
        Err(DigestError::BadHex { .. })
    ));
    assert!(matches!(
        Digest::parse("md5:00"),
        Err(DigestError::UnknownAlgorithm { .. })
    ));
    assert!(matches!(
        Reference::parse("sha256:zz"),
        Err(RegistryError::Digest(_))
    ));
    assert!(matches!(
        Reference::parse("-tag"),
        Err(RegistryError::Tag(_))
    ));
    assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
}

#[test]
fn component_longer_than_a_tree_key_allows_is_a_clear_error() {
    // Valid OCI (<= 255 bytes in all) but one component exceeds what a
    // directory entry key holds (246 bytes): refused with a named error,
    // nothing written.
    let mut reg = filesystem::Registry::new({
        let store =
            block::BlockStore::format(block::MemDevice::new(4096), block::Config::default())
                .unwrap();
        filesystem::Fs::open(store, 0).unwrap()
    });
    let long = RepoName::parse(&"a".repeat(250)).unwrap();
    let d = filesystem::digest::Hasher::digest_of(filesystem::Algorithm::Sha256, b"x");
    reg.put_blob(&d, &mut &b"x"[..]).unwrap();
    let before = reg.fs().walk(None).unwrap();
    match reg.link_blob(&long, &d) {
        Err(RegistryError::Fs(filesystem::FsError::NameTooLong { max: 246, .. })) => {}
        other => panic!("expected NameTooLong, got {other:?}"),
    }
    assert_eq!(reg.fs().walk(None).unwrap(), before);
}
