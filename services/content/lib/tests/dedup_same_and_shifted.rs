//! Each distinct chunk is stored once: the same object twice costs its
//! bytes once; an object that shares a prefix with another, or holds the
//! same data shifted by an insertion, shares all but the chunks around the
//! difference (content-defined boundaries follow the content).

mod common;

use std::collections::HashSet;

use content::ChunkRef;

fn distinct(refs: &[ChunkRef]) -> HashSet<[u8; 32]> {
    refs.iter().map(|r| r.hash).collect()
}

#[test]
fn same_object_twice_stores_its_bytes_once() {
    let (mut tx, mut store) = common::new_store(8192);
    let data = common::noise(4 << 20, 1);
    let a = common::put(&mut tx, &mut store, &data, 1 << 20, 1);
    let after_first = store.stats();
    assert_eq!(after_first.chunk_bytes, data.len() as u64);
    let b = common::put(&mut tx, &mut store, &data, 12345, 7);
    assert_eq!(a, b, "same bytes, same chunks, whatever the feeding");
    assert_eq!(store.stats(), after_first, "physical bytes grow only once");
    // Physical footprint: data blocks (whole blocks per chunk) plus index.
    let index = store.index_blocks(&mut tx).unwrap();
    assert!(index >= 1);
    let mut footprint = 0;
    store.visit_blocks(&mut tx, |e| footprint += e.len).unwrap();
    assert_eq!(footprint, after_first.data_blocks + index);
    assert!(after_first.physical_data_bytes() >= data.len() as u64);
    assert_eq!(common::get(&mut tx, &store, &b, 1 << 20), data);
}

#[test]
fn shared_prefix_and_shifted_data_share_chunks() {
    let (mut tx, mut store) = common::new_store(16384);
    let base = common::noise(8 << 20, 2);
    let a = common::put(&mut tx, &mut store, &base, 1 << 20, 2);
    let one = store.stats();

    // Same prefix, different tail.
    let mut prefixed = base[..6 << 20].to_vec();
    prefixed.extend_from_slice(&common::noise(1 << 20, 3));
    let b = common::put(&mut tx, &mut store, &prefixed, 1 << 20, 2);
    let shared = distinct(&a).intersection(&distinct(&b)).count();
    assert!(
        shared * 10 >= distinct(&b).len() * 6,
        "prefix: only {shared} of {} chunks shared",
        b.len()
    );

    // The whole base shifted by an insertion of 1000 bytes near the start.
    let mut shifted = common::noise(1000, 4);
    shifted.extend_from_slice(&base);
    let before = store.stats();
    let c = common::put(&mut tx, &mut store, &shifted, 1 << 20, 2);
    let new_bytes = store.stats().chunk_bytes - before.chunk_bytes;
    // Only the chunk(s) around the insertion are new: at most a few max chunks.
    assert!(
        new_bytes <= 3 * content::MAX_CHUNK as u64,
        "shifted data stored {new_bytes} new bytes"
    );
    assert!(one.chunk_bytes == base.len() as u64);
    for (refs, data) in [(&a, &base), (&b, &prefixed), (&c, &shifted)] {
        assert_eq!(&common::get(&mut tx, &store, refs, 1 << 20), data);
    }
    assert!(store.check(&mut tx, true).is_clean());
}
