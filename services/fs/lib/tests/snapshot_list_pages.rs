//! `snap list` a page at a time: more snapshots than a page, listed in
//! pages of any size, give every snapshot once, in name order, with the
//! logical bytes of its record; and the space a snapshot holds (`snap
//! space`, asked of one at a time) is right: each snapshot alone holds one
//! file, all share another.

mod common;

use common::{fresh_fs, noise};
use filesystem::{SnapshotInfo, SNAPSHOT_PAGE_MAX};

#[test]
fn more_snapshots_than_a_page_list_in_pages() {
    let mut fs = fresh_fs(32768);
    let common_data = noise(7, 3000);
    fs.write_file("/common", &common_data).unwrap();
    let count = SNAPSHOT_PAGE_MAX + 6;
    for i in 0..count {
        fs.write_file("/own", &noise(100 + i as u64, 1000 + i))
            .unwrap();
        fs.snapshot_create(&format!("s{i:03}")).unwrap();
    }
    fs.unlink("/own").unwrap();

    let whole = fs.snapshot_list().unwrap();
    assert_eq!(whole.len(), count);
    for (i, s) in whole.iter().enumerate() {
        assert_eq!(s.name, format!("s{i:03}"));
        assert_eq!(s.logical_bytes, 3000 + 1000 + i as u64, "{s:?}");
    }
    for i in [0, count / 2, count - 1] {
        let space = fs.snapshot_space(&format!("s{i:03}")).unwrap();
        assert_eq!(space.exclusive_bytes, 1000 + i as u64, "{space:?}");
        assert_eq!(space.shared_bytes, 3000, "{space:?}");
        assert_eq!(space.other_trees, count as u64, "{space:?}");
    }
    for limit in [1, 5, 32, SNAPSHOT_PAGE_MAX, 1000] {
        let mut got: Vec<SnapshotInfo> = Vec::new();
        let mut pages = 0;
        loop {
            let after = got.last().map(|s| s.name.clone());
            let (page, more) = fs.snapshot_list_page(after.as_deref(), limit).unwrap();
            assert!(page.len() <= limit.min(SNAPSHOT_PAGE_MAX));
            got.extend(page);
            pages += 1;
            if !more {
                break;
            }
        }
        assert_eq!(got, whole, "pages of {limit}");
        assert!(pages >= count.div_ceil(limit.min(SNAPSHOT_PAGE_MAX)));
    }
    // After the last name: nothing, and no more.
    let (page, more) = fs.snapshot_list_page(Some("s999"), 5).unwrap();
    assert!(page.is_empty() && !more);
}
