//! fsck with an upper layer's help: blocks used but free, used twice, and
//! leaked are reported in plain words with their block numbers.

use block::{
    BlockStore, Config, Durability, Extent, FindingKind, MemDevice, Transactional, BLOCK_SIZE,
};

#[test]
fn leaks_double_use_and_use_of_free_blocks_are_reported() {
    let mut s = BlockStore::format(MemDevice::new(300), Config::default_small()).unwrap();
    s.begin().unwrap();
    let a = s.allocate(4).unwrap();
    let b = s.allocate(2).unwrap();
    s.write_fresh(a.start, &vec![1u8; 4 * BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    // Everything accounted for: clean.
    let mut f = s.fsck().unwrap();
    f.mark_used(a, "file data");
    f.mark_used(b, "btree node");
    let report = f.finish();
    assert!(report.is_clean(), "{report}");
    assert!(report.blocks_checked > 0);

    // An upper layer that forgot `b`, uses a free block and shares one block.
    let mut f = s.fsck().unwrap();
    assert_eq!(
        f.allocated_extents().last().copied(),
        Some(Extent::new(0, b.end()))
    );
    f.mark_used(a, "file data");
    f.mark_used(Extent::new(a.start, 1), "chunk index");
    f.mark_used(Extent::new(b.end() + 5, 1), "orphan pointer");
    f.mark_used(Extent::new(10_000, 1), "wild pointer");
    f.report_mut().push(
        FindingKind::Upper,
        Some(a.start),
        "btree node has a bad checksum".into(),
    );
    let report = f.finish();
    let kinds: Vec<FindingKind> = report.findings().iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::UsedTwice,
            FindingKind::UsedButFree,
            FindingKind::OutOfRange,
            FindingKind::Upper,
            FindingKind::Leaked
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "block {} used by chunk index is also used",
            a.start
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "block {} is used by orphan pointer but marked free",
            b.end() + 5
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "blocks {}..{} are allocated but nothing uses them (leaked)",
            b.start,
            b.end() - 1
        )),
        "{text}"
    );
    assert!(text.contains("5 problems found"), "{text}");
}
