//! `snap diff` a page at a time: paging a diff of many changes (adds,
//! removes, modifications, moves onto a freed name) through small pages
//! yields exactly the whole diff, in order, never more than a page at once.

mod common;

use common::fresh_fs;
use filesystem::{Change, ChangeKind};

/// Every change from `old` to the live tree, `limit` at a time.
fn paged(fs: &mut filesystem::Fs<common::Store>, old: &str, limit: usize) -> Vec<Change> {
    let mut all = Vec::new();
    let mut after: Option<Change> = None;
    loop {
        let page = fs
            .snapshot_diff_page(Some(old), None, after.as_ref(), limit)
            .unwrap();
        assert!(page.changes.len() <= limit, "a page holds at most `limit`");
        if page.more {
            assert_eq!(page.changes.len(), limit, "only a full page has more");
        }
        // The cursor travels as the listing line, as the shell sends it.
        if let Some(last) = page.changes.last() {
            after = Some(Change::parse_line(&last.line()).unwrap());
        }
        all.extend(page.changes);
        if !page.more {
            return all;
        }
    }
}

#[test]
fn small_pages_equal_the_whole_diff() {
    let mut fs = fresh_fs(16384);
    for i in 0..120 {
        fs.write_file(&format!("/d{}/f{i:03}", i % 7), b"v1")
            .unwrap();
    }
    fs.snapshot_create("s").unwrap();
    for i in 0..120 {
        match i % 4 {
            0 => fs.unlink(&format!("/d{}/f{i:03}", i % 7)).unwrap(),
            1 => {
                fs.write_file(&format!("/d{}/f{i:03}", i % 7), b"v2 longer")
                    .unwrap();
            }
            2 => {
                fs.write_file(&format!("/new/n{i:03}"), b"n").unwrap();
            }
            _ => {}
        }
    }
    // A move onto a name just freed: the same path removed and added.
    fs.rename("/d3/f003", "/d0/f000").unwrap();

    let whole = fs.snapshot_diff(Some("s"), None).unwrap();
    assert!(whole.len() > 90, "many changes: {}", whole.len());
    assert!(whole.iter().any(|c| c.kind == ChangeKind::Added));
    assert!(whole.iter().any(|c| c.kind == ChangeKind::Removed));
    assert!(whole.iter().any(|c| c.kind == ChangeKind::Modified));
    for limit in [1, 7, 64, whole.len(), whole.len() + 5] {
        assert_eq!(paged(&mut fs, "s", limit), whole, "pages of {limit}");
    }
}

#[test]
fn no_changes_is_one_empty_page() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/a", b"x").unwrap();
    fs.snapshot_create("s").unwrap();
    let page = fs.snapshot_diff_page(Some("s"), None, None, 10).unwrap();
    assert!(page.changes.is_empty() && !page.more);
}

#[test]
fn listing_lines_round_trip_and_refuse_others() {
    for kind in [ChangeKind::Added, ChangeKind::Removed, ChangeKind::Modified] {
        let c = Change {
            path: "/a b/c".to_string(),
            kind,
        };
        assert_eq!(Change::parse_line(&c.line()), Some(c));
    }
    assert_eq!(Change::parse_line("X /a"), None);
    assert_eq!(Change::parse_line("+ relative"), None);
    assert_eq!(Change::parse_line(""), None);
}
