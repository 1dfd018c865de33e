//! The content service's `store_whole` (a writer of one request: the
//! lease fed with `ChunkWriter::write_with`, then `finish`) stores what
//! `writer_start`, `push` and `finish` store for the same bytes, each in a
//! request of its own (a push of `DEFER_MIN` bytes or more taken and held,
//! hashed after its answer and stored by the `finish`, as the service
//! does): the same references in the same order, the same store counters,
//! and the object reads back. Sizes: 0 bytes, 1 byte, a small put's 4 KiB,
//! an object ending exactly where the content cuts, the fs's bound for
//! keeping bytes (64 KiB) and one byte over, the service's `DEFER_MIN`,
//! and a whole piece.

mod common;

use block::{Durability, Transactional};
use common::{get, new_store, noise, save_root, Store};
use content::{ChunkRef, ChunkWriter, ContentStats, ContentStore, LayoutBuf, PutError};

const KIB: usize = 1024;
/// The content service's smallest held push (`DEFER_MIN`).
const DEFER_MIN: usize = 256 * KIB;
/// The largest push (`content_api::PIECE`).
const PIECE: usize = 1024 * KIB;

/// `f` in a transaction of its own, the root saved, as a request of the
/// service inside its caller's transaction.
fn request(
    tx: &mut Store,
    store: &mut ContentStore,
    f: impl FnOnce(&mut ContentStore, &mut Store) -> Result<(), PutError>,
) {
    tx.begin().unwrap();
    f(store, tx).unwrap();
    save_root(tx, store);
    tx.commit(Durability::Batched).unwrap();
}

/// A reader of `p` for `write_with`/`take_with`, as the service reads a
/// lease.
fn lease(p: &[u8]) -> impl FnMut(usize, &mut [u8]) -> Result<(), PutError> + '_ {
    |off, into| {
        into.copy_from_slice(&p[off..off + into.len()]);
        Ok(())
    }
}

/// `writer_start`, one `push` (none for no bytes: the fs pushes none)
/// and `finish`, each a request.
fn push_and_finish(data: &[u8]) -> (Vec<ChunkRef>, ContentStats, Vec<u8>) {
    let (mut tx, mut store) = new_store(4096);
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    if !data.is_empty() {
        request(&mut tx, &mut store, |s, tx| {
            if data.len() >= DEFER_MIN {
                w.take_with(s, tx, LayoutBuf::new(), data.len(), lease(data), |r| {
                    refs.push(r)
                })?;
                // The service's work after its answer.
                w.hash_held();
            } else {
                let mut layout = LayoutBuf::new();
                w.write_with(s, tx, &mut layout, data.len(), lease(data), |r| {
                    refs.push(r)
                })?;
            }
            Ok(())
        });
    }
    request(&mut tx, &mut store, |s, tx| {
        w.finish(s, tx, |r| refs.push(r)).map(|_| ())
    });
    let back = get(&mut tx, &store, &refs, 64 * KIB);
    (refs, store.stats(), back)
}

/// `store_whole`: one request.
fn whole(data: &[u8]) -> (Vec<ChunkRef>, ContentStats, Vec<u8>) {
    let (mut tx, mut store) = new_store(4096);
    let mut refs = Vec::new();
    request(&mut tx, &mut store, |s, tx| {
        let mut w = ChunkWriter::new();
        let mut layout = LayoutBuf::new();
        w.write_with(s, tx, &mut layout, data.len(), lease(data), |r| {
            refs.push(r)
        })?;
        w.finish(s, tx, |r| refs.push(r)).map(|_| ())
    });
    let back = get(&mut tx, &store, &refs, 64 * KIB);
    (refs, store.stats(), back)
}

fn same(data: &[u8]) {
    let (want, want_stats, _) = push_and_finish(data);
    let (got, got_stats, back) = whole(data);
    assert_eq!(
        got,
        want,
        "{} bytes: the references of push and finish",
        data.len()
    );
    assert_eq!(
        got_stats,
        want_stats,
        "{} bytes: what is stored",
        data.len()
    );
    assert!(back == data, "{} bytes read back", data.len());
}

#[test]
fn empty_one_byte_and_a_small_put_store_as_push_and_finish() {
    let data = noise(4 * KIB, 1);
    same(&[]);
    same(&data[..1]);
    same(&data);
    // An empty object stores nothing.
    assert!(whole(&[]).0.is_empty());
}

#[test]
fn an_object_ending_at_a_content_cut_stores_as_push_and_finish() {
    let data = noise(PIECE, 2);
    let (refs, _, _) = whole(&data);
    assert!(refs.len() > 2, "a piece is several chunks");
    // The first chunk alone, and the first two: each ends at a cut.
    let first = refs[0].len as usize;
    same(&data[..first]);
    same(&data[..first + refs[1].len as usize]);
}

#[test]
fn around_the_bound_and_up_to_a_piece_stores_as_push_and_finish() {
    let data = noise(PIECE, 3);
    for len in [64 * KIB, 64 * KIB + 1, DEFER_MIN, PIECE] {
        same(&data[..len]);
    }
}
