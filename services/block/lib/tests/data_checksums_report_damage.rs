//! On a store formatted with data checksums, a bit flip in a data block (or
//! in the checksum table) is reported by reads as `Error::Corrupt` naming the
//! block, the damaged bytes are not returned, and fsck lists the block.

use block::{
    BlockStore, Config, Corruption, Durability, Error, FindingKind, FormatOptions, MemDevice,
    Transactional, BLOCK_SIZE,
};

fn store() -> (BlockStore<MemDevice>, u64) {
    let config = Config::default_small();
    let mut s = BlockStore::format_with(
        MemDevice::new(600),
        config,
        FormatOptions {
            data_checksums: true,
        },
    )
    .unwrap();
    assert!(s.geometry().checksums.len > 0);
    s.begin().unwrap();
    let e = s.allocate(4).unwrap();
    s.write_fresh(e.start, &vec![5u8; 3 * BLOCK_SIZE]).unwrap(); // blocks 0..3 unjournaled
    s.write(e.start + 3, &vec![6u8; BLOCK_SIZE]).unwrap(); // block 3 journaled
    let root = s.root_block(0);
    s.write(root, &vec![7u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    let s = BlockStore::mount(s.unmount().unwrap(), config).unwrap();
    (s, e.start)
}

#[test]
fn flipped_data_bit_is_an_error_naming_the_block() {
    for victim_offset in [1u64, 3] {
        let (s, start) = store();
        let victim = start + victim_offset;
        let mut dev = s.into_device();
        dev.image_mut()[victim as usize * BLOCK_SIZE + 999] ^= 0x04;
        let mut s = BlockStore::mount(dev, Config::default_small()).unwrap();

        let mut buf = vec![0xFFu8; 4 * BLOCK_SIZE];
        match s.read(start, &mut buf) {
            Err(Error::Corrupt {
                block,
                detail: Corruption::Checksum { .. },
            }) => assert_eq!(block, victim),
            other => panic!("expected corruption of block {victim}, got {other:?}"),
        }
        assert!(buf.iter().all(|&b| b == 0), "damaged bytes handed out");
        // Undamaged neighbours still read.
        let mut one = vec![0u8; BLOCK_SIZE];
        s.read(start + if victim_offset == 1 { 0 } else { 2 }, &mut one)
            .unwrap();
        assert_eq!(one[0], 5);

        let report = s.check().unwrap();
        assert_eq!(report.findings().len(), 1, "{report}");
        let f = &report.findings()[0];
        assert_eq!((f.kind, f.block), (FindingKind::DataChecksum, Some(victim)));
        assert!(
            f.message
                .contains(&format!("block {victim} has a bad checksum")),
            "{}",
            f.message
        );
    }
}

#[test]
fn flipped_bit_in_the_checksum_table_is_reported() {
    let (s, start) = store();
    let table = s.geometry().checksums.start;
    let mut dev = s.into_device();
    dev.image_mut()[table as usize * BLOCK_SIZE + 100] ^= 0x01;
    let offline = block::check_device(&mut dev).unwrap();
    assert!(
        offline
            .to_string()
            .contains(&format!("checksum table block {table} is unusable")),
        "{offline}"
    );
    let mut s = BlockStore::mount(dev, Config::default_small()).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    assert!(matches!(s.read(start, &mut buf), Err(Error::Corrupt { block, .. }) if block == table));
    let report = s.check().unwrap();
    assert!(
        report
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::DataChecksum && f.block == Some(table)),
        "{report}"
    );
}

#[test]
fn reallocated_block_is_not_checked_before_its_first_write() {
    let (mut s, start) = store();
    s.begin().unwrap();
    s.free(block::Extent::new(start, 4)).unwrap();
    s.commit(Durability::Durable).unwrap();
    s.checkpoint().unwrap();
    // Overwrite the freed blocks behind the store's back, then reuse them.
    let mut all = Vec::new();
    s.begin().unwrap();
    while let Ok(e) = s.allocate(1) {
        all.push(e.start);
    }
    assert!(all.contains(&start));
    s.commit(Durability::Durable).unwrap();
    s.device_mut_unchecked().image_mut()[start as usize * BLOCK_SIZE] ^= 0xFF;
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(start, &mut buf).unwrap();
    assert!(s.check().unwrap().is_clean());
}
