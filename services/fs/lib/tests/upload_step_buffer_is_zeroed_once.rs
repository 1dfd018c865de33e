//! Copy little (issue #13): the step buffer an upload's pieces are read
//! into is zero-filled once as it grows to a step, not before every piece
//! (that fill was a pass over every byte of a large put). A step's stale
//! bytes never leak: the blob reads back and checks clean.

mod common;

use std::sync::atomic::Ordering;

use common::{fresh_registry, noise, upload_in_pieces};
use filesystem::stream::{STREAM_STEP, ZEROED_BYTES};

const BLOB: usize = 16 << 20;
const PIECE: usize = 1 << 20;

#[test]
fn upload_step_buffer_is_zeroed_once() {
    // Not a multiple of the piece: the last piece is short.
    let data = noise(23, BLOB + 4321);
    let mut reg = fresh_registry(16_384);
    let zeroed = ZEROED_BYTES.load(Ordering::Relaxed);
    upload_in_pieces(&mut reg, &data, PIECE, |_| {});
    let zeroed = ZEROED_BYTES.load(Ordering::Relaxed) - zeroed;
    // Before: every byte appended (16 MiB); now one step's worth.
    assert!(
        zeroed <= STREAM_STEP as u64,
        "{zeroed} bytes zeroed for a {} byte blob",
        data.len()
    );
}
