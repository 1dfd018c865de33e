//! Objects of many sizes (empty, one byte, around block and chunk
//! boundaries, several MiB) go in through the streaming writer in pieces of
//! various sizes and come back byte for byte, sequentially and at random
//! offsets; the store passes its fsck afterwards.

mod common;

use content::{ObjectReader, MAX_CHUNK, MIN_CHUNK};

#[test]
fn sizes_around_every_boundary_round_trip() {
    let (mut tx, mut store) = common::new_store(16384);
    let sizes = [
        0,
        1,
        4095,
        4096,
        4097,
        MIN_CHUNK - 1,
        MIN_CHUNK,
        MIN_CHUNK + 1,
        MAX_CHUNK - 1,
        MAX_CHUNK,
        MAX_CHUNK + 1,
        3 * MAX_CHUNK + 17,
        5 << 20,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        let data = common::noise(size, i as u64 + 1);
        for piece in [1usize << 20, 4093, 65536] {
            if size > (1 << 20) && piece < 65536 {
                continue; // byte-sized feeding of big objects only slows the test
            }
            let refs = common::put(&mut tx, &mut store, &data, piece, 3);
            assert_eq!(
                refs.iter().map(|r| u64::from(r.len)).sum::<u64>(),
                size as u64
            );
            assert!(refs
                .iter()
                .all(|r| r.len as usize <= MAX_CHUNK && r.len > 0));
            if size == 0 {
                assert!(refs.is_empty(), "an empty object has no chunks");
            }
            assert_eq!(
                common::get(&mut tx, &store, &refs, 7777),
                data,
                "size {size} piece {piece}"
            );
        }
    }
    let report = store.check(&mut tx, true);
    assert!(
        report.is_clean(),
        "{:?} {:?}",
        report.tree.problems,
        report.problems
    );
}

#[test]
fn random_offsets_read_the_right_bytes() {
    let (mut tx, mut store) = common::new_store(8192);
    let data = common::noise(3 << 20, 42);
    let refs = common::put(&mut tx, &mut store, &data, 100_000, 4);
    let mut reader = ObjectReader::new(&refs);
    let mut seed = 7u64;
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let offset = (seed >> 16) as usize % data.len();
        let len = (seed >> 40) as usize % 300_000;
        let mut buf = vec![0u8; len];
        let n = reader
            .read_at(&store, &mut tx, offset as u64, &mut buf)
            .unwrap();
        assert_eq!(n, len.min(data.len() - offset));
        assert_eq!(&buf[..n], &data[offset..offset + n]);
    }
    // At the end: 0 bytes; past it: an error naming both numbers.
    let mut buf = [0u8; 10];
    assert_eq!(
        reader
            .read_at(&store, &mut tx, data.len() as u64, &mut buf)
            .unwrap(),
        0
    );
    let err = reader
        .read_at(&store, &mut tx, data.len() as u64 + 1, &mut buf)
        .unwrap_err();
    assert_eq!(
        err,
        content::GetError::OffsetPastEnd {
            offset: data.len() as u64 + 1,
            len: data.len() as u64
        }
    );
}

#[test]
fn the_store_survives_remount() {
    let (mut tx, mut store) = common::new_store(8192);
    let data = common::noise(1 << 20, 5);
    let refs = common::put(&mut tx, &mut store, &data, 50_000, 2);
    let stats = store.stats();
    let device = tx.unmount().unwrap();
    let mut tx = block::BlockStore::mount(device, common::config()).unwrap();
    let store = common::load_root(&mut tx);
    assert_eq!(store.stats(), stats);
    assert_eq!(common::get(&mut tx, &store, &refs, 1 << 16), data);
}
