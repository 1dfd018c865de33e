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
