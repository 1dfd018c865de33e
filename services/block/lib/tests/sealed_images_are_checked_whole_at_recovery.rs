//! Images written through `write_verified` carry their writer's seal, and
//! the journal tags them with the CRC-32C read off that seal instead of a
//! pass over their bytes (`block::sealed_image_crc`). The tag is the same
//! value, so recovery checks such an image whole as before: a byte flipped
//! anywhere in it (its magic, its seal, the bytes the seal covers) is found
//! at mount, repaired from the parity and reported; flipped together with
//! the parity it is beyond repair: a torn tail for the last transaction,
//! `JournalGap` when a later commit vouches for it.

use block::{
    sealed_image_crc, BlockStore, Config, Corruption, Durability, Error, MemDevice, Transactional,
    BLOCK_SIZE, SEAL_FIELD,
};

fn config() -> Config {
    // Nothing is checkpointed: every commit stays in the journal.
    Config {
        cache_blocks: 256,
        journal_blocks: 128,
        group_commit_blocks: 16,
    }
}

/// An image sealed for `home` as `write_verified`'s contract says: bytes
/// 4..8 the CRC-32C of `home` (u64 LE) then bytes 8.. (cowbtree's seal).
fn sealed(home: u64, fill: u8) -> Vec<u8> {
    let mut image: Vec<u8> = (0..BLOCK_SIZE)
        .map(|i| (i as u8).wrapping_mul(31) ^ fill)
        .collect();
    image[..4].copy_from_slice(b"CBTN");
    let mut msg = home.to_le_bytes().to_vec();
    msg.extend_from_slice(&image[8..]);
    let seal = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&msg);
    image[SEAL_FIELD..SEAL_FIELD + 4].copy_from_slice(&seal.to_le_bytes());
    image
}

/// A store whose journal holds one Durable transaction writing sealed
/// images to a root block and two data blocks (and, with `vouched`, a
/// second one after it). Answers the device, the images by home, and the
/// journal region.
fn journaled(vouched: bool) -> (MemDevice, Vec<(u64, Vec<u8>)>, block::Extent) {
    let mut s = BlockStore::format(MemDevice::new(512), config()).unwrap();
    let journal = s.geometry().journal;
    s.begin().unwrap();
    let data = s.allocate(2).unwrap();
    let homes = [s.root_block(0), data.start, data.start + 1];
    let images: Vec<(u64, Vec<u8>)> = homes
        .iter()
        .enumerate()
        .map(|(i, &h)| (h, sealed(h, i as u8 + 1)))
        .collect();
    for (home, image) in &images {
        s.write_verified(*home, image).unwrap();
    }
    s.commit(Durability::Durable).unwrap();
    if vouched {
        s.begin().unwrap();
        let r = s.root_block(1);
        s.write(r, &[9u8; BLOCK_SIZE]).unwrap();
        s.commit(Durability::Durable).unwrap();
    }
    assert_eq!(s.stats().checkpoints, 0);
    (s.into_device(), images, journal)
}

/// Where `image` lies in the journal (its first copy), as a device block.
fn journal_block_of(dev: &MemDevice, journal: block::Extent, image: &[u8]) -> u64 {
    (journal.start..journal.end())
        .find(|&b| {
            let at = b as usize * BLOCK_SIZE;
            &dev.image()[at..at + BLOCK_SIZE] == image
        })
        .expect("the image is journaled")
}

fn read(s: &mut BlockStore<MemDevice>, block: u64) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    s.read(block, &mut b).unwrap();
    b
}

#[test]
fn sealed_image_tag_equals_a_pass_over_it() {
    let (dev, images, journal) = journaled(false);
    for (home, image) in &images {
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(image);
        assert_eq!(sealed_image_crc(*home, image), Some(crc));
        // The descriptor (the journal's first block) holds it as the tag.
        let d = journal.start as usize * BLOCK_SIZE;
        let tags = &dev.image()[d + 32..d + 32 + 12 * 4];
        let tag = tags
            .chunks_exact(12)
            .find(|t| t[..8] == home.to_le_bytes())
            .expect("a tag per image");
        assert_eq!(tag[8..12], crc.to_le_bytes(), "home {home}");
    }
}

#[test]
fn a_byte_flipped_anywhere_in_a_sealed_image_is_found_and_repaired() {
    let (dev, images, journal) = journaled(false);
    // Every byte of the head (magic, seal, generation...), then a spread
    // over the sealed part, and the last bytes.
    let positions: Vec<usize> = (0..64)
        .chain((64..BLOCK_SIZE).step_by(61))
        .chain(BLOCK_SIZE - 3..BLOCK_SIZE)
        .collect();
    for (home, image) in &images {
        let at = journal_block_of(&dev, journal, image);
        for &p in &positions {
            let mut damaged = dev.clone();
            damaged.image_mut()[at as usize * BLOCK_SIZE + p] ^= 0x10;
            let mut s = BlockStore::mount(damaged, config())
                .unwrap_or_else(|e| panic!("home {home} byte {p}: {e}"));
            let says = format!("journal block {at} ");
            assert!(
                s.events().any(|e| e.contains(&says)),
                "home {home} byte {p}: {:?}",
                s.events().collect::<Vec<_>>()
            );
            assert_eq!(s.stats().transactions_replayed, 1, "home {home} byte {p}");
            for (h, want) in &images {
                assert!(read(&mut s, *h) == *want, "home {home} byte {p}: block {h}");
            }
        }
    }
}

#[test]
fn a_sealed_image_damaged_with_its_parity_is_never_replayed() {
    for vouched in [false, true] {
        let (dev, images, journal) = journaled(vouched);
        let (home, image) = &images[1];
        let at = journal_block_of(&dev, journal, image);
        // One group: [D D'] images [P] [C C']; the parity follows the
        // last image.
        let parity = journal.start + 2 + images.len() as u64 + 1;
        assert!(parity > at);
        for p in [0usize, SEAL_FIELD, 100, BLOCK_SIZE - 1] {
            let mut damaged = dev.clone();
            damaged.image_mut()[at as usize * BLOCK_SIZE + p] ^= 0x01;
            damaged.image_mut()[parity as usize * BLOCK_SIZE + p] ^= 0x80;
            match BlockStore::mount(damaged, config()) {
                Ok(mut s) => {
                    assert!(!vouched, "byte {p}: a vouched transaction rolled back");
                    assert_eq!(s.stats().transactions_replayed, 0, "byte {p}");
                    assert!(read(&mut s, *home) != *image, "byte {p}");
                }
                Err(Error::Corrupt {
                    detail: Corruption::JournalGap { .. },
                    ..
                }) => assert!(vouched, "byte {p}"),
                Err(e) => panic!("byte {p}: {e}"),
            }
        }
    }
}
