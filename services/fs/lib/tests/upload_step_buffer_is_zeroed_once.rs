//! Copy little (issue #13): the step buffer an upload's pieces are read
//! into is zero-filled once as it grows to a step, not before every piece
//! (that fill was a pass over every byte of a large put). A step's stale
//! bytes never leak: the blob reads back and checks clean.

mod common;

use std::sync::atomic::Ordering;

use common::{fresh_registry, noise, sha256};
use filesystem::layout;
use filesystem::stream::{STREAM_STEP, ZEROED_BYTES};

const BLOB: usize = 16 << 20;
const PIECE: usize = 1 << 20;

#[test]
fn upload_step_buffer_is_zeroed_once() {
    // Not a multiple of the piece: the last piece is short.
    let data = noise(23, BLOB + 4321);
    let d = sha256(&data);
    let mut reg = fresh_registry(16_384);
    let zeroed = ZEROED_BYTES.load(Ordering::Relaxed);
    let mut up = reg
        .begin_upload(None, filesystem::Algorithm::Sha256)
        .unwrap();
    for p in data.chunks(PIECE) {
        reg.upload_write_with(&mut up, p.len(), |buf| {
            buf.copy_from_slice(p);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(reg.finish_upload(up, &d).unwrap(), data.len() as u64);
    let zeroed = ZEROED_BYTES.load(Ordering::Relaxed) - zeroed;
    // Before: every byte appended (16 MiB); now one step's worth.
    assert!(
        zeroed <= STREAM_STEP as u64,
        "{zeroed} bytes zeroed for a {} byte blob",
        data.len()
    );
    let fs = reg.fs();
    let ino = fs.stat(&layout::blob_data(&d)).unwrap().ino;
    let mut back = vec![0u8; data.len()];
    let mut got = 0;
    while got < back.len() {
        got += fs.read_at(ino, got as u64, &mut back[got..]).unwrap();
    }
    assert!(back == data, "the blob reads back");
    assert!(fs.fsck(true).unwrap().is_clean());
}
