//! A `snap diff` page reads in proportion to the page, not to the diff:
//! with thousands of changes in many directories, pages of 4 records each
//! read a bounded number of tree nodes (counted by the node cache) wherever
//! they start, far fewer than the whole diff, and together list every
//! change exactly once, including in-place rewrites (extents only) and a
//! file modified under a renamed directory.

mod common;

use std::collections::BTreeSet;

use common::fresh_fs;
use filesystem::{Change, ChangeKind, DiffCursor};

fn nodes(fs: &filesystem::Fs<common::Store>) -> u64 {
    let s = fs.node_cache_stats();
    s.hits + s.misses
}

#[test]
fn pages_read_a_bounded_number_of_nodes_and_list_each_change_once() {
    let mut fs = fresh_fs(65536);
    for i in 0..2400 {
        fs.write_file(&format!("/dir{:02}/file{i:04}", i % 12), b"first")
            .unwrap();
    }
    fs.write_file("/keep/inplace", b"AAAA").unwrap();
    fs.write_file("/old/sub/f", b"v1").unwrap();
    fs.snapshot_create("s").unwrap();
    for i in 0..2400 {
        let path = format!("/dir{:02}/file{i:04}", i % 12);
        match i % 3 {
            0 => fs.unlink(&path).map(drop).unwrap(),
            1 => fs.write_file(&path, b"second!").map(drop).unwrap(),
            _ => {}
        }
    }
    for i in 0..600 {
        fs.write_file(&format!("/added{:02}/n{i:04}", i % 5), b"n")
            .unwrap();
    }
    // Same size and same inode record otherwise: only an extent differs
    // unless the time moved; either way one `M`.
    let ino = fs.stat("/keep/inplace").unwrap().ino;
    fs.write_at(ino, 0, b"BBBB").unwrap();
    // A directory renamed, a file under it changed: its old path goes,
    // its new one comes.
    fs.rename("/old", "/new").unwrap();
    fs.write_file("/new/sub/f", b"v2").unwrap();

    let before = nodes(&fs);
    let whole = fs.snapshot_diff(Some("s"), None).unwrap();
    let whole_reads = nodes(&fs) - before;
    // 800 removed, 800 modified, 600 + 5 added, the in-place rewrite, the
    // renamed directory (- and +), and f under it (- and +).
    assert_eq!(
        whole.len(),
        800 + 800 + 605 + 1 + 2 + 2,
        "{:?}",
        &whole[..5]
    );
    for (path, kind) in [
        ("/keep/inplace", ChangeKind::Modified),
        ("/old", ChangeKind::Removed),
        ("/new", ChangeKind::Added),
        ("/old/sub/f", ChangeKind::Removed),
        ("/new/sub/f", ChangeKind::Added),
        ("/dir00/file0000", ChangeKind::Removed),
        ("/dir01/file0001", ChangeKind::Modified),
        ("/added00/n0000", ChangeKind::Added),
    ] {
        let c = Change {
            path: path.into(),
            kind,
        };
        assert!(whole.contains(&c), "{c:?} missing");
    }

    let mut seen = BTreeSet::new();
    let mut after: Option<DiffCursor> = None;
    let mut pages = 0u64;
    let mut max_reads = 0u64;
    loop {
        let before = nodes(&fs);
        let page = fs
            .snapshot_diff_page(Some("s"), None, after.as_ref(), 4)
            .unwrap();
        max_reads = max_reads.max(nodes(&fs) - before);
        pages += 1;
        for c in page.changes() {
            assert!(seen.insert(c.clone()), "{c:?} listed twice");
        }
        match page.next {
            Some(c) => after = Some(DiffCursor::from_hex(&c.to_hex()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), whole);
    eprintln!(
        "whole diff read {whole_reads} nodes; {pages} pages of 4 records read at most \
         {max_reads} nodes each"
    );
    // A page: the paths down to its cursor on both sides, the leaves of its
    // 4 records, and the inode and directory lookups of its lines: a few
    // dozen nodes wherever it starts, while the whole diff reads thousands.
    assert!(max_reads <= 60, "a page of 4 read {max_reads} nodes");
    assert!(
        whole_reads > 20 * max_reads,
        "the whole diff read {whole_reads}"
    );
}
