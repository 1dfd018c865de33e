//! Copy little (issue #13): an upload's step buffer is allocated once
//! when the upload's length is announced (a blob session's), and at most
//! twice otherwise (its first piece, then a whole step), never doubled
//! piece by piece: doubling moved 3 MiB of a 32 MiB put's first step and
//! took 7 MiB of fresh heap (each page zeroed by the kernel) for a 4 MiB
//! step. The blob reads back either way.

mod common;

use std::sync::atomic::Ordering;

use common::{fresh_registry, noise, upload_in_pieces};
use filesystem::stream::{STEP_ALLOCATIONS, STEP_MOVED_BYTES, STREAM_STEP};

const PIECE: usize = 1 << 20;

/// Uploads `len` bytes in 1 MiB pieces (announcing the length first when
/// `announce`); answers the step allocations and moved bytes it took.
fn upload(seed: u64, len: usize, announce: bool) -> (u64, u64) {
    let data = noise(seed, len);
    let mut reg = fresh_registry(16_384);
    let allocations = STEP_ALLOCATIONS.load(Ordering::Relaxed);
    let moved = STEP_MOVED_BYTES.load(Ordering::Relaxed);
    upload_in_pieces(&mut reg, &data, PIECE, |up| {
        if announce {
            up.expect(len as u64);
        }
    });
    (
        STEP_ALLOCATIONS.load(Ordering::Relaxed) - allocations,
        STEP_MOVED_BYTES.load(Ordering::Relaxed) - moved,
    )
}

#[test]
fn upload_step_buffer_is_allocated_once() {
    // Several steps, the last piece short.
    let len = 3 * STREAM_STEP + 4321;
    // Announced (`blob_begin`'s length): one allocation, nothing moved.
    assert_eq!(upload(31, len, true), (1, 0));
    // Not announced: the first piece, then a whole step (doubling took
    // three allocations and moved 1 + 2 MiB).
    let (allocations, moved) = upload(32, len, false);
    assert_eq!(allocations, 2);
    assert!(moved <= PIECE as u64, "{moved} bytes moved");
    // A small announced upload takes only its length.
    assert_eq!(upload(33, 5000, true), (1, 0));
}
