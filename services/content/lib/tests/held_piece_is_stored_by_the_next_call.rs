//! A piece taken with `ChunkWriter::take_with` (the content service's
//! early-answered push) is hashed after the answer and stored by the
//! writer's next call: the chunks stored are those `write_with` stores,
//! `finish` stores a piece still unhashed, an error storing it is the next
//! call's and leaves nothing behind, and other callers meanwhile see the
//! store as if the piece had not come (rules 1-5 of the content service).

mod common;

use block::{Durability, Error, Transactional};
use common::{get, new_store, noise, save_root, Counting, Store};
use content::{ChunkRef, ChunkWriter, ContentStore, LayoutBuf, PutError, Sweep};

const MIB: usize = 1 << 20;

/// Feeds `p` to `w` with `take_with` (the service's deferred push).
fn take(
    w: &mut ChunkWriter,
    store: &mut ContentStore,
    tx: &mut impl Transactional,
    buf: LayoutBuf,
    p: &[u8],
    refs: &mut Vec<ChunkRef>,
) -> Result<(), PutError> {
    w.take_with::<_, PutError>(
        store,
        tx,
        buf,
        p.len(),
        |off, into| {
            into.copy_from_slice(&p[off..off + into.len()]);
            Ok(())
        },
        |r| refs.push(r),
    )
    .map(|_| ())
}

/// Stores the held piece (if any), keeping its buffer for the next piece.
fn settle(
    w: &mut ChunkWriter,
    store: &mut ContentStore,
    tx: &mut impl Transactional,
    refs: &mut Vec<ChunkRef>,
) -> Result<LayoutBuf, PutError> {
    let (_, buf) = w.settle(store, tx, &mut |r| refs.push(r))?;
    Ok(buf.unwrap_or_default())
}

/// Puts `data` in pieces of `piece` bytes as the service does with early
/// answers: one transaction per piece, each piece held (and hashed, when
/// `hash`) after its call and stored by the next; the references each
/// call emitted, in order.
fn put_held(
    tx: &mut Store,
    store: &mut ContentStore,
    data: &[u8],
    piece: usize,
    hash: bool,
) -> Vec<Vec<ChunkRef>> {
    let mut calls = Vec::new();
    let mut w = ChunkWriter::new();
    let mut buf = LayoutBuf::new();
    for p in data.chunks(piece) {
        let mut refs = Vec::new();
        tx.begin().unwrap();
        // The held piece's buffer comes back and takes the next piece.
        let next = settle(&mut w, store, tx, &mut refs).unwrap();
        take(&mut w, store, tx, buf, p, &mut refs).unwrap();
        buf = next;
        // A piece longer than the longest chunk completes one at least.
        if p.len() >= content::MAX_CHUNK {
            assert!(w.holds_piece());
            // What the service answers with `CONTINUES` for.
            assert!(w.hash_pending(), "a taken piece waits for its hashing");
        }
        save_root(tx, store);
        tx.commit(Durability::Batched).unwrap();
        if hash {
            w.hash_held();
            assert!(!w.hash_pending(), "hashed: nothing left to compute");
        }
        calls.push(refs);
    }
    let mut refs = Vec::new();
    tx.begin().unwrap();
    w.finish(store, tx, |r| refs.push(r)).unwrap();
    save_root(tx, store);
    tx.commit(Durability::Durable).unwrap();
    calls.push(refs);
    calls
}

/// The same bytes through `write_with` (each call storing what it cuts).
fn put_laid_out(
    tx: &mut Store,
    store: &mut ContentStore,
    data: &[u8],
    piece: usize,
) -> Vec<ChunkRef> {
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    let mut layout = LayoutBuf::new();
    for p in data.chunks(piece) {
        tx.begin().unwrap();
        w.write_with::<_, PutError>(
            store,
            tx,
            &mut layout,
            p.len(),
            |off, into| {
                into.copy_from_slice(&p[off..off + into.len()]);
                Ok(())
            },
            |r| refs.push(r),
        )
        .unwrap();
        save_root(tx, store);
        tx.commit(Durability::Batched).unwrap();
    }
    tx.begin().unwrap();
    w.finish(store, tx, |r| refs.push(r)).unwrap();
    save_root(tx, store);
    tx.commit(Durability::Durable).unwrap();
    refs
}

#[test]
fn held_pieces_store_the_chunks_write_with_stores_one_call_later() {
    let data = noise(6 * MIB + 12_345, 11);
    let (mut tx_a, mut a) = new_store(16384);
    let (mut tx_b, mut b) = new_store(16384);
    let want = put_laid_out(&mut tx_a, &mut a, &data, MIB);
    let calls = put_held(&mut tx_b, &mut b, &data, MIB, true);
    // The first call stores nothing (its piece is held); every chunk comes
    // once, in order, by the end.
    assert!(calls[0].is_empty());
    assert!(calls[1..7].iter().all(|c| !c.is_empty()));
    let got: Vec<ChunkRef> = calls.concat();
    assert_eq!(got, want);
    assert_eq!(a.stats(), b.stats());
    assert!(b.check(&mut tx_b, true).is_clean());
    assert_eq!(get(&mut tx_b, &b, &got, 65536), data);
}

#[test]
fn finish_after_an_unhashed_held_piece_stores_everything() {
    let data = noise(3 * MIB, 12);
    let (mut tx, mut store) = new_store(16384);
    // Never hashed between calls: each next call (and the finish) hashes
    // and stores the held piece itself.
    let calls = put_held(&mut tx, &mut store, &data, MIB, false);
    let got: Vec<ChunkRef> = calls.concat();
    let total: u64 = got.iter().map(|r| u64::from(r.len)).sum();
    assert_eq!(total, data.len() as u64);
    assert!(
        calls.last().unwrap().len() > 1,
        "the held piece and the last chunk"
    );
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &got, 65536), data);
}

#[test]
fn no_space_for_a_held_piece_is_the_next_calls_error_and_leaves_nothing() {
    for next_is_finish in [false, true] {
        let data = noise(2 * MIB, 13);
        let (mut tx, mut store) = new_store(16384);
        let mut w = ChunkWriter::new();
        let mut refs = Vec::new();
        let mut d = Counting::new(&mut tx);
        d.begin().unwrap();
        take(
            &mut w,
            &mut store,
            &mut d,
            LayoutBuf::new(),
            &data[..MIB],
            &mut refs,
        )
        .unwrap();
        save_root(&mut d, &store);
        d.commit(Durability::Durable).unwrap();
        // The call that held the piece allocated nothing: nothing can fail
        // after its answer.
        assert_eq!(d.allocations, 0);
        assert!(refs.is_empty());
        w.hash_held();
        let before = store.encode_root();
        // The disk fills; the next call on the writer meets it.
        d.full = true;
        d.begin().unwrap();
        let r = if next_is_finish {
            w.finish(&mut store, &mut d, |r| refs.push(r)).map(|_| ())
        } else {
            take(
                &mut w,
                &mut store,
                &mut d,
                LayoutBuf::new(),
                &data[MIB..],
                &mut refs,
            )
        };
        assert!(
            matches!(r, Err(PutError::Block(Error::NoSpace))),
            "{r:?} (finish: {next_is_finish})"
        );
        // The caller aborts, as the filesystem does: nothing is stored,
        // nothing allocated, nothing half-linked.
        d.abort();
        let store = ContentStore::open(&before).unwrap();
        assert_eq!(store.stats().chunks, 0);
        assert_eq!(store.stats().data_blocks, 0);
        assert!(store.check(&mut tx, true).is_clean());
    }
}

#[test]
fn other_callers_meanwhile_see_the_store_without_the_held_piece() {
    let (mut tx, mut store) = new_store(16384);
    // Another object, stored before.
    let other = noise(300_000, 14);
    let other_refs = common::put(&mut tx, &mut store, &other, 65536, 2);
    let stats = store.stats();

    let data = noise(MIB, 15);
    let mut w = ChunkWriter::new();
    let mut held = Vec::new();
    tx.begin().unwrap();
    take(
        &mut w,
        &mut store,
        &mut tx,
        LayoutBuf::new(),
        &data,
        &mut held,
    )
    .unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Batched).unwrap();
    w.hash_held();
    // Meanwhile: reads, a small put by another writer, a check and a whole
    // collection keeping everything see the store as it was.
    assert_eq!(get(&mut tx, &store, &other_refs, 65536), other);
    assert_eq!(store.stats(), stats);
    let small = noise(4096, 16);
    let small_refs = common::put(&mut tx, &mut store, &small, 4096, 1);
    assert_eq!(get(&mut tx, &store, &small_refs, 65536), small);
    assert!(store.check(&mut tx, true).is_clean());
    tx.begin().unwrap();
    let epoch = store.begin_gc().unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    let mut marks = content::ChunkMarks::new(tx.block_count());
    for r in other_refs.iter().chain(&small_refs) {
        store.mark(&mut tx, r, &mut marks).unwrap();
    }
    let mut sweep = Sweep::new(epoch);
    while !sweep.is_done() {
        tx.begin().unwrap();
        store.sweep_step(&mut tx, &marks, &mut sweep, 4).unwrap();
        save_root(&mut tx, &store);
        tx.commit(Durability::Durable).unwrap();
    }
    assert_eq!(sweep.report.chunks, 0, "nothing of the held piece to sweep");

    // The writer's next call stores the piece, after all of that.
    let mut refs = Vec::new();
    tx.begin().unwrap();
    w.finish(&mut store, &mut tx, |r| refs.push(r)).unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    assert_eq!(get(&mut tx, &store, &refs, 65536), data);
    assert!(store.check(&mut tx, true).is_clean());
    assert_eq!(get(&mut tx, &store, &other_refs, 65536), other);
}
