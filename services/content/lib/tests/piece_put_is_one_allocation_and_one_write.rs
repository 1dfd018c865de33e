//! A piece fed with `ChunkWriter::write_with` (the content service's push)
//! stores its chunks with one allocation and one write laid out in place,
//! not one allocation per chunk and a copy into the block client's buffer
//! (issue #13); the chunks are exactly those of the plain chunker, dedup
//! still works, and the store checks clean and reads back.

mod common;

use block::{Durability, Transactional};
use common::{get, new_store, noise, save_root, Counting, Store};
use content::{ChunkRef, ChunkWriter, Chunker, ContentStore, LayoutBuf, PutError};

const MIB: usize = 1 << 20;

/// The chunks of `data` by the chunker alone (the reference).
fn reference(data: &[u8]) -> Vec<ChunkRef> {
    let mut c = Chunker::new();
    let (mut out, mut at) = (Vec::new(), 0);
    while at < data.len() {
        let n = c.find_cut(&data[at..]).unwrap_or(data.len() - at);
        let chunk = &data[at..at + n];
        out.push(ChunkRef {
            hash: *blake3::hash(chunk).as_bytes(),
            len: n as u32,
        });
        at += n;
    }
    out
}

/// Puts `data` in pieces of `piece` bytes through `write_with`, one
/// transaction per piece; answers the refs, the counting device's
/// (allocations, writes, bytes written) and the writer's copied bytes.
fn put_with(
    tx: &mut Store,
    store: &mut ContentStore,
    layout: &mut LayoutBuf,
    data: &[u8],
    piece: usize,
) -> (Vec<ChunkRef>, (u64, u64, u64), u64) {
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    let mut dev = Counting::new(tx);
    for p in data.chunks(piece) {
        dev.begin().unwrap();
        w.write_with::<_, PutError>(
            store,
            &mut dev,
            layout,
            p.len(),
            |off, into| {
                into.copy_from_slice(&p[off..off + into.len()]);
                Ok(())
            },
            |r| refs.push(r),
        )
        .unwrap();
        save_root(&mut dev, store);
        dev.commit(Durability::Batched).unwrap();
    }
    let copied = w.copied_bytes();
    dev.begin().unwrap();
    w.finish(store, &mut dev, |r| refs.push(r)).unwrap();
    save_root(&mut dev, store);
    dev.commit(Durability::Durable).unwrap();
    (
        refs,
        (dev.allocations, dev.fresh_writes, dev.fresh_bytes),
        copied,
    )
}

#[test]
fn a_piece_of_new_data_is_one_allocation_and_one_write() {
    let data = noise(8 * MIB, 7);
    let (mut tx, mut store) = new_store(16384);
    let mut layout = LayoutBuf::new();
    let (refs, (allocations, writes, written), copied) =
        put_with(&mut tx, &mut store, &mut layout, &data, MIB);
    assert_eq!(refs, reference(&data));
    assert!(refs.len() > 80, "{} chunks", refs.len());
    // 8 pieces and the finish: one allocation each, against one per chunk.
    assert!(allocations <= 9, "{allocations} allocations");
    // One per piece; the finish's last chunk is its whole blocks and its
    // padded last block.
    assert!(writes <= 8 + 2, "{writes} writes of chunk data");
    // Every byte written once, padded to its chunk's last block.
    let padded: u64 = refs
        .iter()
        .map(|r| u64::from(r.len).div_ceil(4096) * 4096)
        .sum();
    assert_eq!(written, padded);
    // What a cut leaves of its window, and the unfinished chunk between
    // pieces, are moved; nothing else is copied.
    eprintln!("copied {copied} of {} bytes", data.len());
    assert!(
        copied * 4 < data.len() as u64,
        "{copied} bytes copied of {}",
        data.len()
    );
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &refs, MIB), data);
}

#[test]
fn a_small_layout_stores_the_same_chunks_in_more_steps() {
    let data = noise(3 * MIB + 12345, 8);
    let (mut tx, mut store) = new_store(8192);
    // The smallest layout: a piece is stored every few windows.
    let mut layout = LayoutBuf::with_len(0);
    let (refs, (allocations, _, _), _) =
        put_with(&mut tx, &mut store, &mut layout, &data, MIB + 333);
    assert_eq!(refs, reference(&data));
    assert!(allocations > 4, "{allocations}");
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &refs, 100_000), data);
}

#[test]
fn repeated_data_in_one_piece_and_across_pieces_is_stored_once() {
    // 1 MiB of noise three times, then a run of zeros (identical chunks
    // inside one piece).
    let one = noise(MIB, 9);
    let mut data = [one.clone(), one.clone(), one].concat();
    data.extend(std::iter::repeat_n(0u8, 2 * MIB));
    let (mut tx, mut store) = new_store(16384);
    let mut layout = LayoutBuf::new();
    let (refs, _, _) = put_with(&mut tx, &mut store, &mut layout, &data, 700_000);
    assert_eq!(refs, reference(&data));
    let mut distinct: Vec<[u8; 32]> = refs.iter().map(|r| r.hash).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(store.stats().chunks, distinct.len() as u64);
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &refs, MIB), data);
}

#[test]
fn the_slice_writer_allocates_once_per_call() {
    let data = noise(4 * MIB, 10);
    let (mut tx, mut store) = new_store(8192);
    let mut dev = Counting::new(&mut tx);
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    dev.begin().unwrap();
    for p in data.chunks(MIB) {
        w.write(&mut store, &mut dev, p, |r| refs.push(r)).unwrap();
    }
    w.finish(&mut store, &mut dev, |r| refs.push(r)).unwrap();
    save_root(&mut dev, &store);
    dev.commit(Durability::Durable).unwrap();
    assert_eq!(refs, reference(&data));
    // Per call: the chunk across the pieces alone, the rest together.
    assert!(dev.allocations <= 2 * 4 + 1, "{}", dev.allocations);
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &refs, MIB), data);
}

#[test]
fn a_failing_source_ends_the_piece_with_its_error() {
    let (mut tx, mut store) = new_store(4096);
    let mut layout = LayoutBuf::new();
    let mut w = ChunkWriter::new();
    tx.begin().unwrap();
    let r = w.write_with::<_, PutError>(
        &mut store,
        &mut tx,
        &mut layout,
        MIB,
        |off, _| {
            if off >= 200_000 {
                Err(PutError::Empty)
            } else {
                Ok(())
            }
        },
        |_| (),
    );
    assert_eq!(r.unwrap_err(), PutError::Empty);
    tx.abort();
}
