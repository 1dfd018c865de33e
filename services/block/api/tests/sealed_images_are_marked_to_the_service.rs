//! A node written through `write_verified` reaches the service marked
//! `SCATTER_SEALED`, and the store journals it under the CRC-32C read off
//! its seal; plain writes, and a sealed image a plain write replaced in the
//! gather, are checksummed whole as before. After a power cut the journal
//! replays every image (each checked whole at mount).

mod common;

use block::{
    sealed_image_crc, BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE,
    SEAL_FIELD,
};

/// An image sealed for `home` as `write_verified`'s contract says.
fn sealed(home: u64, fill: u8) -> Vec<u8> {
    let mut image: Vec<u8> = (0..BLOCK_SIZE).map(|i| (i / 13) as u8 ^ fill).collect();
    let mut msg = home.to_le_bytes().to_vec();
    msg.extend_from_slice(&image[8..]);
    let seal = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&msg);
    image[SEAL_FIELD..SEAL_FIELD + 4].copy_from_slice(&seal.to_le_bytes());
    assert!(sealed_image_crc(home, &image).is_some());
    image
}

#[test]
fn sealed_images_are_marked_to_the_service() {
    let server = common::service(4000);
    let mut c = common::client(&server, 1);
    c.begin().unwrap();
    let e = c.allocate(5).unwrap();
    let images: Vec<(u64, Vec<u8>)> = (e.start..e.end())
        .map(|b| (b, sealed(b, b as u8)))
        .collect();
    for (b, image) in &images[..4] {
        c.write_verified(*b, image).unwrap();
    }
    // A plain write, and a sealed image replaced by a plain one.
    c.write(images[4].0, &images[4].1).unwrap();
    let replaced = vec![7u8; BLOCK_SIZE];
    c.write(images[3].0, &replaced).unwrap();
    c.commit(Durability::Durable).unwrap();
    drop(c);

    let store = server.into_inner().0.into_store();
    let stats = store.stats();
    // Five data blocks and the bitmap block; three of them sealed.
    assert_eq!(
        (stats.journal_images, stats.journal_sealed_images),
        (6, 3),
        "{stats:?}"
    );
    assert_eq!(stats.checkpoints, 0);

    let config = Config {
        cache_blocks: 256,
        journal_blocks: 256,
        group_commit_blocks: 64,
    };
    let mut s = BlockStore::mount(
        MemDevice::from_image(store.into_device().image().to_vec()),
        config,
    )
    .unwrap();
    assert_eq!(s.stats().transactions_replayed, 1);
    let mut back = vec![0u8; BLOCK_SIZE];
    for (i, (b, image)) in images.iter().enumerate() {
        s.read(*b, &mut back).unwrap();
        let want = if i == 3 { &replaced } else { image };
        assert!(back == *want, "block {b}");
    }
}
