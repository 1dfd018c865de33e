//! Fills (`memset`): every length 0..=300 at every alignment 0..8 and
//! large sizes, every byte value's pattern, against `slice::fill`; the
//! bytes around the range stay untouched.

fn check_fill(fill: unsafe fn(*mut u8, u8, usize), len: usize, align: usize, byte: u8) {
    const GUARD: usize = 16;
    let total = len + 2 * GUARD + 8;
    let mut words = vec![0u64; total / 8 + 1];
    // Safety: u8 has no alignment or validity requirement; same memory.
    let buf = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), total) };
    for (i, b) in buf.iter_mut().enumerate() {
        *b = i as u8 ^ 0xA5;
    }
    let mut want = buf.to_vec();
    want[GUARD + align..GUARD + align + len].fill(byte);
    // Safety: the range is inside `buf`.
    unsafe { fill(buf.as_mut_ptr().add(GUARD + align), byte, len) };
    assert_eq!(buf, &want[..], "len {len} align {align} byte {byte:#x}");
}

#[test]
fn fill_every_small_length_and_alignment() {
    for len in 0..=300 {
        for align in 0..8 {
            for byte in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                check_fill(tcgmem::fill, len, align, byte);
            }
        }
    }
}

#[test]
fn other_unroll_factors_fill_correctly() {
    for len in 0..=300 {
        for align in 0..8 {
            check_fill(tcgmem::fill_by::<1>, len, align, 0xC3);
            check_fill(tcgmem::fill_by::<8>, len, align, 0xC3);
        }
    }
}

#[test]
fn large_fills_at_odd_alignments() {
    for len in [4096, 4096 + 3, (1 << 20) + 5] {
        for align in [0, 1, 7] {
            check_fill(tcgmem::fill, len, align, 0);
            check_fill(tcgmem::fill, len, align, 0xAB);
        }
    }
}
