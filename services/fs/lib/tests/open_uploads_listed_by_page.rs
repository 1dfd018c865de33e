//! Open resumable upload sessions listed a page at a time (what the shell's
//! `uploads` shows): every session of a repository once, in id order, with
//! its bytes and last-write time; another repository's sessions and stray
//! names are not listed; a removed session is gone from the listing.

mod common;

use common::fresh_registry;
use filesystem::{Algorithm, RepoName, UploadInfo};

#[test]
fn sessions_page_in_id_order_with_bytes_and_idle_time() {
    let mut reg = fresh_registry(8192);
    let repo = RepoName::parse("app/web").unwrap();
    let other = RepoName::parse("app/db").unwrap();
    let mut expected = Vec::new();
    for i in 0..11u64 {
        reg.fs().set_time(Some(1000 + i));
        let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
        let data = vec![i as u8; (i * 100) as usize];
        reg.append_durable(&mut up, 0, &data).unwrap();
        let id = filesystem::parse_upload_id(up.id()).unwrap();
        expected.push(UploadInfo {
            id,
            bytes: i * 100,
            mtime: 1000 + i,
        });
    }
    reg.begin_upload(Some(&other), Algorithm::Sha256).unwrap();
    // A name that is no session id is not listed.
    reg.fs()
        .mkdir_all("/docker/registry/v2/repositories/app/web/_uploads/junk")
        .unwrap();
    expected.sort_by_key(|u| u.id);

    for limit in [1usize, 3, 11, 50] {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = reg.list_uploads_page(&repo, after, limit).unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            all.extend(page);
        }
        assert_eq!(all, expected, "pages of {limit}");
    }

    // Removing one (what `uploads rm` does) drops it from the listing.
    let gone = expected.remove(4);
    assert!(reg
        .remove_upload(Some(&repo), &filesystem::upload_id_text(gone.id))
        .unwrap());
    assert_eq!(reg.list_uploads_page(&repo, None, 100).unwrap(), expected);
    // A repository without sessions lists none.
    let empty = RepoName::parse("none/here").unwrap();
    assert!(reg.list_uploads_page(&empty, None, 10).unwrap().is_empty());
}
