//! `write_fresh_with` (the block service reads its client's lease straight
//! into the fresh buffer) is `write_fresh` without the copy: the same data
//! reaches the disk with the same checksums (data checksums on), survives a
//! remount, is read back by the transaction before it is sent, counts as
//! filled rather than copied, and a failed fill writes nothing and leaves
//! the transaction usable.

use block::{BlockStore, Config, Durability, FormatOptions, MemDevice, Transactional, BLOCK_SIZE};

fn image(seed: u8, blocks: usize) -> Vec<u8> {
    (0..blocks * BLOCK_SIZE)
        .map(|i| seed ^ (i / 7) as u8)
        .collect()
}

#[test]
fn fresh_filled_in_place_is_a_fresh_write() {
    let config = Config::default_small();
    let options = FormatOptions {
        data_checksums: true,
    };
    let mut s = BlockStore::format_with(MemDevice::new(600), config, options).unwrap();
    s.begin().unwrap();
    let a = s.allocate(6).unwrap();
    let want = image(3, 6);

    // A fill that fails: nothing is buffered or written, no error of the store.
    let failed = s
        .write_fresh_with(a.start, 2 * BLOCK_SIZE, |_| Err("the lease went away"))
        .unwrap();
    assert_eq!(failed, Err("the lease went away"));
    assert_eq!(s.stats().fresh_filled_bytes, 0);

    // Two fills that continue each other, and one plain write after them.
    for (at, blocks) in [(0usize, 2usize), (2, 3)] {
        let part = &want[at * BLOCK_SIZE..(at + blocks) * BLOCK_SIZE];
        s.write_fresh_with(a.start + at as u64, part.len(), |buf| {
            buf.copy_from_slice(part);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    }
    s.write_fresh(a.start + 5, &want[5 * BLOCK_SIZE..]).unwrap();
    // The transaction reads its buffered data.
    let mut back = vec![0u8; want.len()];
    s.read(a.start, &mut back).unwrap();
    assert!(back == want, "the transaction reads what it filled");
    let st = s.stats();
    assert_eq!(st.fresh_filled_bytes, 5 * BLOCK_SIZE as u64);
    assert_eq!(st.fresh_copied_bytes, BLOCK_SIZE as u64);
    let root = s.root_block(0);
    s.write(root, &[1u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    // After a remount every block reads back and verifies its checksum.
    let mut s = BlockStore::mount(s.unmount().unwrap(), config).unwrap();
    let mut back = vec![0u8; want.len()];
    s.read(a.start, &mut back).unwrap();
    assert!(back == want, "the filled blocks survive a remount");
    let report = s.check().unwrap();
    assert!(report.is_clean(), "{report}");
}
