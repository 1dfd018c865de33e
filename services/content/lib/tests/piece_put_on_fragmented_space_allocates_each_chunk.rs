//! When no free run is long enough for a whole piece's new chunks,
//! `ContentStore::put_cuts` allocates each chunk alone (as `put_chunk`
//! always did) instead of failing: the put succeeds, checks clean and
//! reads back.

mod common;

use block::{Durability, Extent, Transactional};
use common::{get, new_store, noise, save_root};
use content::{ChunkWriter, LayoutBuf, PutError};

#[test]
fn piece_put_on_fragmented_space_allocates_each_chunk() {
    let (mut tx, mut store) = new_store(8192);
    // Free runs of 70 blocks (a chunk is at most 64), each between two
    // allocated blocks: nothing longer is free.
    tx.begin().unwrap();
    let mut gaps: Vec<Extent> = Vec::new();
    loop {
        match tx.allocate(70) {
            Ok(e) => gaps.push(e),
            Err(block::Error::NoSpace) => break,
            Err(e) => panic!("{e:?}"),
        }
        if tx.allocate(1).is_err() {
            break;
        }
    }
    // Whatever shorter run is left stays taken.
    while tx.allocate(1).is_ok() {}
    for e in &gaps {
        tx.free(*e).unwrap();
    }
    tx.commit(Durability::Durable).unwrap();
    // Freed blocks come back once the free is durable.
    tx.sync().unwrap();
    assert!(gaps.len() > 20, "{} gaps", gaps.len());

    let data = noise(1 << 20, 11);
    let mut layout = LayoutBuf::new();
    let mut w = ChunkWriter::new();
    let mut refs = Vec::new();
    tx.begin().unwrap();
    let done = w
        .write_with::<_, PutError>(
            &mut store,
            &mut tx,
            &mut layout,
            data.len(),
            |off, into| {
                into.copy_from_slice(&data[off..off + into.len()]);
                Ok(())
            },
            |r| refs.push(r),
        )
        .unwrap();
    w.finish(&mut store, &mut tx, |r| refs.push(r)).unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    // The piece's run did not fit: one try, then one allocation per chunk.
    assert_eq!(done.allocations, 1 + done.stored, "{done:?}");
    assert!(done.stored > 5, "{done:?}");
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &refs, 100_000), data);
}
