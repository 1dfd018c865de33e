//! Overlapping moves (`memmove`) within one buffer: every length 0..=300,
//! every source alignment 0..8 and every distance -40..=40 between source
//! and destination (both directions, exact overlap included), plus large
//! moves, against `slice::copy_within`.

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ (i >> 8) as u8 ^ 0x5A)
        .collect()
}

fn check_move(len: usize, src: usize, dst: usize, total: usize) {
    let mut words = vec![0u64; total / 8 + 1];
    // Safety: u8 has no alignment or validity requirement; same memory.
    let buf = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), total) };
    buf.copy_from_slice(&pattern(total));
    let mut want = buf.to_vec();
    want.copy_within(src..src + len, dst);
    let base = buf.as_mut_ptr();
    // Safety: src..src+len and dst..dst+len are inside `buf`; copy_any
    // allows any overlap.
    unsafe { tcgmem::copy_any(base.add(dst), base.add(src), len) };
    assert_eq!(buf, &want[..], "len {len} src {src} dst {dst}");
}

#[test]
fn every_small_overlap_in_both_directions() {
    const MARGIN: usize = 48;
    for len in 0..=300 {
        for sa in 0..8 {
            for delta in -40i64..=40 {
                let src = MARGIN + sa;
                let dst = (src as i64 + delta) as usize;
                check_move(len, src, dst, len + 2 * MARGIN + 8);
            }
        }
    }
}

#[test]
fn large_overlapping_moves_in_both_directions() {
    let len = (1 << 20) + 3;
    for delta in [1i64, 7, 8, 9, 4096, -1, -7, -8, -9, -4096] {
        let src = 5000;
        let dst = (src as i64 + delta) as usize;
        check_move(len, src, dst, len + 10_000);
    }
}
