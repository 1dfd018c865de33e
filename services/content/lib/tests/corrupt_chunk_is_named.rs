//! A byte flipped in a chunk on the device: reading the chunk (alone or
//! as part of an object) returns an error naming its hash and block, never
//! the bad bytes; other chunks still read; fsck with data verification
//! reports exactly that chunk.

mod common;

use block::{BlockStore, Transactional, BLOCK_SIZE};
use content::{ChunkBuf, GetError, Hex, ObjectReader};

#[test]
fn flipped_byte_is_an_error_naming_the_chunk() {
    let (mut tx, mut store) = common::new_store(8192);
    let data = common::noise(1 << 20, 9);
    let refs = common::put(&mut tx, &mut store, &data, 1 << 20, 1);
    assert!(refs.len() >= 3);
    let victim = refs[1];
    // Find the victim's block through the store's own extent listing: the
    // chunk whose extent holds the victim's bytes.
    let mut extents = Vec::new();
    store.visit_blocks(&mut tx, |e| extents.push(e)).unwrap();
    let mut buf = ChunkBuf::new();
    let mut block = None;
    for e in extents
        .iter()
        .filter(|e| e.len == u64::from(victim.len).div_ceil(BLOCK_SIZE as u64))
    {
        let mut first = vec![0u8; BLOCK_SIZE];
        tx.read(e.start, &mut first).unwrap();
        let bytes = store.read_chunk(&mut tx, &victim, &mut buf).unwrap();
        if first[..100] == bytes[..100] {
            block = Some(e.start);
        }
    }
    let block = block.expect("victim chunk's extent");

    let mut device = tx.unmount().unwrap();
    device.image_mut()[block as usize * BLOCK_SIZE + 1234] ^= 0x20;
    let mut tx = BlockStore::mount(device, common::config()).unwrap();
    let store = common::load_root(&mut tx);

    let err = store.read_chunk(&mut tx, &victim, &mut buf).unwrap_err();
    assert!(
        matches!(err, GetError::ChunkCorrupt { hash, block: b, .. } if hash == victim.hash && b == block)
    );
    let text = err.to_string();
    assert!(
        text.contains(&Hex(&victim.hash).to_string()) && text.contains(&format!("block {block}")),
        "{text}"
    );

    // Reading the object: bytes before the bad chunk come back, then the error.
    let mut reader = ObjectReader::new(&refs);
    let mut out = vec![0u8; data.len()];
    let first_len = refs[0].len as usize;
    assert_eq!(
        reader
            .read_at(&store, &mut tx, 0, &mut out[..first_len])
            .unwrap(),
        first_len
    );
    assert_eq!(out[..first_len], data[..first_len]);
    assert!(matches!(
        reader.read_at(&store, &mut tx, 0, &mut out),
        Err(GetError::ChunkCorrupt { hash, .. }) if hash == victim.hash
    ));
    // Other chunks are fine.
    assert!(store.read_chunk(&mut tx, &refs[2], &mut buf).is_ok());

    let report = store.check(&mut tx, true);
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(report.problems[0].contains(&Hex(&victim.hash).to_string()));
    assert!(
        store.check(&mut tx, false).is_clean(),
        "without data verification the metadata is fine"
    );
}
