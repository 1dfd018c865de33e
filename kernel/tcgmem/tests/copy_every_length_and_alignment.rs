//! Non-overlapping copies (`memcpy`): every length 0..=300 at every source
//! and destination alignment 0..8, plus large sizes, against a plain slice
//! copy; the bytes around the destination stay untouched.

const GUARD: usize = 16;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn check(copy: unsafe fn(*mut u8, *const u8, usize), len: usize, sa: usize, da: usize) {
    // u64 backing stores, so offsets 0..8 are real alignments.
    let mut src_words = vec![0u64; (len + 2 * GUARD) / 8 + 2];
    let mut dst_words = vec![0u64; (len + 2 * GUARD) / 8 + 2];
    let src_bytes = bytemuck_mut(&mut src_words);
    let dst_bytes = bytemuck_mut(&mut dst_words);
    let data = pattern(len, 7);
    src_bytes[GUARD + sa..GUARD + sa + len].copy_from_slice(&data);
    dst_bytes.fill(0xEE);
    let mut want = dst_bytes.to_vec();
    want[GUARD + da..GUARD + da + len].copy_from_slice(&data);
    // Safety: both ranges are inside their own buffers; no overlap.
    unsafe {
        copy(
            dst_bytes.as_mut_ptr().add(GUARD + da),
            src_bytes.as_ptr().add(GUARD + sa),
            len,
        )
    };
    assert_eq!(
        dst_bytes,
        &want[..],
        "len {len} src align {sa} dst align {da}"
    );
}

fn bytemuck_mut(words: &mut [u64]) -> &mut [u8] {
    // Safety: u8 has no alignment or validity requirement; same memory.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) }
}

fn all_small(copy: unsafe fn(*mut u8, *const u8, usize)) {
    for len in 0..=300 {
        for sa in 0..8 {
            for da in 0..8 {
                check(copy, len, sa, da);
            }
        }
    }
}

#[test]
fn forward_copy_every_small_length_and_alignment() {
    all_small(tcgmem::copy_forward);
}

#[test]
fn backward_copy_every_small_length_and_alignment() {
    all_small(tcgmem::copy_backward);
}

#[test]
fn any_direction_copy_every_small_length_and_alignment() {
    all_small(tcgmem::copy_any);
}

#[test]
fn short_copy_path_every_small_length_and_alignment() {
    // The path memcpy/memmove take below tcgmem::SMALL bytes, checked past it.
    all_small(tcgmem::copy_forward_small);
    all_small(tcgmem::copy_backward_small);
}

#[test]
fn other_unroll_factors_every_small_length_and_alignment() {
    all_small(tcgmem::copy_forward_by::<1, false>);
    all_small(tcgmem::copy_forward_by::<16, false>);
    all_small(tcgmem::copy_forward_by::<8, true>);
    all_small(tcgmem::copy_forward_by::<32, true>);
    all_small(tcgmem::copy_backward_by::<3, false>);
    all_small(tcgmem::copy_backward_by::<16, false>);
    all_small(tcgmem::copy_backward_by::<8, true>);
    all_small(tcgmem::copy_backward_by::<32, true>);
}

#[test]
fn large_copies_at_odd_alignments() {
    for len in [4096, 4096 + 5, 65_536 - 3, 1 << 20, (1 << 20) + 77] {
        for (sa, da) in [(0, 0), (3, 0), (0, 5), (7, 1)] {
            check(tcgmem::copy_forward, len, sa, da);
            check(tcgmem::copy_backward, len, sa, da);
        }
    }
}
