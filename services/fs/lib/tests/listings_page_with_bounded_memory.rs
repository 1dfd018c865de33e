//! Scenario: a registry with nested repository names (whose path order
//! differs from plain string order: `a`, `a/b`, `a-c`) and hundreds of
//! tags is listed a page at a time, as the fs service answers `repos` and
//! `tags`. Every page must hold at most `limit` names, pages must resume
//! exactly after the last name of the one before (nothing lost, nothing
//! twice), and together they must equal the whole list.

mod common;

use common::{fresh_registry, sha256};
use filesystem::listing::path_order;
use filesystem::{Reference, RepoName};

fn pages<F>(limit: usize, mut page: F) -> Vec<String>
where
    F: FnMut(Option<&str>, usize) -> Vec<String>,
{
    let mut all: Vec<String> = Vec::new();
    loop {
        let p = page(all.last().map(String::as_str), limit);
        assert!(
            p.len() <= limit,
            "a page of {} names, limit {limit}",
            p.len()
        );
        if p.is_empty() {
            return all;
        }
        all.extend(p);
    }
}

#[test]
fn listings_page_with_bounded_memory() {
    let mut reg = fresh_registry(8192);
    let blob = b"layer".to_vec();
    let d = sha256(&blob);
    reg.put_blob(&d, &mut &blob[..]).unwrap();
    let names = [
        "a", "a/b", "a-c", "a/b/c", "lib/x", "lib/y", "z0", "0a", "m/n/o", "q.r",
    ];
    for n in names {
        reg.link_blob(&RepoName::parse(n).unwrap(), &d).unwrap();
    }
    // A directory that is not a repository (no _layers) holds one that is.
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort_by(|a, b| path_order(a, b));

    for limit in [1, 3, 4, 100] {
        let got = pages(limit, |after, l| {
            reg.list_repositories_page(after, l).unwrap()
        });
        assert_eq!(got, expected, "limit {limit}");
    }
    let mut whole = reg.list_repositories().unwrap();
    whole.sort_by(|a, b| path_order(a, b));
    assert_eq!(whole, expected);

    let repo = RepoName::parse("lib/x").unwrap();
    let manifest = b"{\"schemaVersion\":2}".to_vec();
    let md = sha256(&manifest);
    for i in 0..300 {
        let tag = Reference::parse(&format!("t{i:03}")).unwrap();
        reg.put_manifest(&repo, &tag, &manifest, &md).unwrap();
    }
    let got = pages(64, |after, l| reg.list_tags_page(&repo, after, l).unwrap());
    assert_eq!(got.len(), 300);
    assert_eq!(got, reg.list_tags(&repo).unwrap());
    let none = RepoName::parse("no/such").unwrap();
    assert!(reg.list_tags_page(&none, None, 10).unwrap().is_empty());
}
