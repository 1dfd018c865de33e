//! Scenario: a push fails before its first blob is stored (the disk filled
//! up mid-layer), leaving an upload session in a repository that has no
//! `_layers` yet. The catalog (`list_repositories_page`, the reference's
//! rule) does not name that repository, so the shell's `uploads`, which
//! walked the catalog, never showed the session holding the space.
//! `list_upload_repositories_page` names every repository with sessions,
//! nested names in path order, a page at a time, and only those.

mod common;

use common::{fresh_registry, sha256};
use filesystem::{Algorithm, RepoName};

#[test]
fn sessions_of_a_repository_without_layers_are_found() {
    let mut reg = fresh_registry(8192);
    let failed = RepoName::parse("full/a").unwrap();
    let mut up = reg.begin_upload(Some(&failed), Algorithm::Sha256).unwrap();
    reg.append_durable(&mut up, 0, &[7u8; 3000]).unwrap();
    // A repository with layers and a session of its own, nested under a
    // name that is a repository too.
    let blob = b"layer".to_vec();
    reg.put_blob(&sha256(&blob), &mut &blob[..]).unwrap();
    let lib = RepoName::parse("lib").unwrap();
    reg.link_blob(&lib, &sha256(&blob)).unwrap();
    let nested = RepoName::parse("lib/x").unwrap();
    reg.link_blob(&nested, &sha256(&blob)).unwrap();
    reg.begin_upload(Some(&nested), Algorithm::Sha256).unwrap();
    let other = RepoName::parse("a-b").unwrap();
    reg.begin_upload(Some(&other), Algorithm::Sha256).unwrap();

    // The catalog does not name the failed push's repository ...
    let catalog = reg.list_repositories_page(None, 100).unwrap();
    assert_eq!(catalog, ["lib", "lib/x"]);
    // ... the sessions' listing does, and not `lib`, which has none.
    let expected = ["a-b", "full/a", "lib/x"];
    assert_eq!(
        reg.list_upload_repositories_page(None, 100).unwrap(),
        expected
    );
    for limit in [1usize, 2] {
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = reg
                .list_upload_repositories_page(all.last().map(String::as_str), limit)
                .unwrap();
            assert!(page.len() <= limit, "a page of {} names", page.len());
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        assert_eq!(all, expected, "pages of {limit}");
    }
    let sessions = reg.list_uploads_page(&failed, None, 10).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].bytes, 3000);
}
