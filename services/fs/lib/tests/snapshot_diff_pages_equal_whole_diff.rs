//! `snap diff` a page at a time: paging a diff of many changes (adds,
//! removes, modifications, moves onto a freed name) through small pages
//! yields exactly the whole diff, each change once, never more than a page
//! at once.

mod common;

use common::fresh_fs;
use filesystem::{Change, ChangeKind, DiffCursor};

/// Every change from `old` to the live tree, `limit` records at a time,
/// in the order the pages give them.
fn paged(fs: &mut filesystem::Fs<common::Store>, old: &str, limit: usize) -> Vec<Change> {
    let mut all = Vec::new();
    let mut after: Option<DiffCursor> = None;
    loop {
        let page = fs
            .snapshot_diff_page(Some(old), None, after.as_ref(), limit)
            .unwrap();
        assert!(
            page.groups.len() <= limit,
            "a page holds at most `limit` records"
        );
        assert!(page
            .groups
            .iter()
            .all(|g| (1..=2).contains(&g.changes.len())));
        all.extend(page.changes().cloned());
        // The cursor travels as hex, as the shell sends it back.
        match page.next {
            Some(c) => after = Some(DiffCursor::from_hex(&c.to_hex()).unwrap()),
            None => return all,
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
    // The move: the old path removed, the name it took over replaced.
    assert!(whole.contains(&Change {
        path: "/d3/f003".into(),
        kind: ChangeKind::Removed
    }));
    assert!(whole.contains(&Change {
        path: "/d0/f000".into(),
        kind: ChangeKind::Modified
    }));
    let mut one_shot = None;
    for limit in [1, 7, 64, whole.len(), whole.len() + 5] {
        let got = paged(&mut fs, "s", limit);
        // The same order whatever the page size, each change once.
        match &one_shot {
            None => one_shot = Some(got.clone()),
            Some(o) => assert_eq!(&got, o, "pages of {limit}"),
        }
        let mut sorted = got;
        sorted.sort();
        assert_eq!(sorted, whole, "pages of {limit}");
    }
}

#[test]
fn no_changes_is_one_empty_page() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/a", b"x").unwrap();
    fs.snapshot_create("s").unwrap();
    let page = fs.snapshot_diff_page(Some("s"), None, None, 10).unwrap();
    assert!(page.groups.is_empty() && page.next.is_none());
    assert_eq!(page.nodes_read, 0, "the same tree: nothing read");
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
