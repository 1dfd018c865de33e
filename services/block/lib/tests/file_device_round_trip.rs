//! The file-backed device end to end: format a temp file, commit in both
//! modes, drop the store without unmounting, mount the file again.

use block::{BlockStore, Config, Durability, FileDevice, Transactional, BLOCK_SIZE};

#[test]
fn store_on_a_file_survives_reopen() {
    let path = std::env::temp_dir().join(format!("block-test-{}.img", std::process::id()));
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap()
    };
    let config = Config::default_small();
    let mut s = BlockStore::format(FileDevice::new(open(), 1024).unwrap(), config).unwrap();
    s.begin().unwrap();
    let e = s.allocate(8).unwrap();
    s.write_fresh(e.start, &vec![7u8; 8 * BLOCK_SIZE]).unwrap();
    let root = s.root_block(0);
    s.write(root, &e.start.to_le_bytes().repeat(BLOCK_SIZE / 8))
        .unwrap();
    s.commit(Durability::Batched).unwrap();
    s.sync().unwrap();
    drop(s);

    let mut s = BlockStore::mount(FileDevice::new(open(), 1024).unwrap(), config).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(root, &mut buf).unwrap();
    let start = u64::from_le_bytes(buf[..8].try_into().unwrap());
    assert_eq!(start, e.start);
    let mut data = vec![0u8; 8 * BLOCK_SIZE];
    s.read(start, &mut data).unwrap();
    assert!(data.iter().all(|&b| b == 7));
    assert!(s.check().unwrap().is_clean());
    std::fs::remove_file(&path).unwrap();
}
