//! Compares (`memcmp`, `bcmp`): every length 0..=300 at every alignment
//! pair 0..8 × 0..8, equal, and differing at every position in either
//! direction (including bytes that differ only as unsigned bytes: 0x80
//! against 0x7F), against the slices' own ordering; the bytes around the
//! ranges differ and are never looked at.

use std::cmp::Ordering;

const GUARD: usize = 16;

/// Two buffers holding the same `len` bytes at `GUARD + align_a` and
/// `GUARD + align_b`, different bytes around them.
fn pair(len: usize, align_a: usize, align_b: usize) -> (Vec<u8>, Vec<u8>) {
    let total = len + 2 * GUARD + 8;
    let mut a: Vec<u8> = (0..total).map(|i| i as u8 ^ 0x5A).collect();
    let mut b: Vec<u8> = (0..total).map(|i| i as u8 ^ 0xC3).collect();
    for k in 0..len {
        // Long runs of equal bytes and all byte values.
        let v = (k as u8).wrapping_mul(37) ^ (k >> 3) as u8;
        a[GUARD + align_a + k] = v;
        b[GUARD + align_b + k] = v;
    }
    (a, b)
}

fn sign(x: i32) -> Ordering {
    x.cmp(&0)
}

/// Checks both functions on the ranges; `what` names the case on failure
/// (formatted only then: millions of cases).
fn check(a: &[u8], b: &[u8], at_a: usize, at_b: usize, len: usize, what: &dyn Fn() -> String) {
    let want = a[at_a..at_a + len].cmp(&b[at_b..at_b + len]);
    // Safety: both ranges are inside their buffers.
    let (got, differ) = unsafe {
        (
            tcgmem::compare(a.as_ptr().add(at_a), b.as_ptr().add(at_b), len),
            tcgmem::differ(a.as_ptr().add(at_a), b.as_ptr().add(at_b), len),
        )
    };
    assert_eq!(sign(got), want, "memcmp {}", what());
    assert_eq!(differ != 0, want != Ordering::Equal, "bcmp {}", what());
    if want != Ordering::Equal {
        // C memcmp's value: the difference of the first differing bytes.
        let k = (0..len).find(|&k| a[at_a + k] != b[at_b + k]).unwrap();
        assert_eq!(
            got,
            i32::from(a[at_a + k]) - i32::from(b[at_b + k]),
            "{}",
            what()
        );
    }
}

#[test]
fn compare_every_length_alignment_and_difference() {
    for len in 0..=300 {
        for align_a in 0..8 {
            for align_b in 0..8 {
                let (mut a, mut b) = pair(len, align_a, align_b);
                let (at_a, at_b) = (GUARD + align_a, GUARD + align_b);
                let equal = || format!("equal {len} {align_a} {align_b}");
                check(&a, &b, at_a, at_b, len, &equal);
                for pos in 0..len {
                    let keep = (a[at_a + pos], b[at_b + pos]);
                    for (x, y) in [(0x80u8, 0x7Fu8), (0x00, 0xFF), (0x41, 0x42)] {
                        a[at_a + pos] = x;
                        b[at_b + pos] = y;
                        let what = || format!("len {len} align {align_a}/{align_b} at {pos}");
                        check(&a, &b, at_a, at_b, len, &what);
                        check(&b, &a, at_b, at_a, len, &what);
                    }
                    (a[at_a + pos], b[at_b + pos]) = keep;
                }
            }
        }
    }
}

#[test]
fn only_the_first_difference_counts() {
    // A later byte that differs the other way does not change the sign.
    for len in 2..=40 {
        for first in 0..len - 1 {
            let mut a = vec![7u8; len];
            let mut b = vec![7u8; len];
            a[first] = 1;
            b[first] = 2;
            a[len - 1] = 0xFF;
            b[len - 1] = 0x00;
            check(&a, &b, 0, 0, len, &|| format!("len {len} first {first}"));
        }
    }
}

#[test]
fn long_compares_of_page_sized_blocks() {
    for len in [4096usize, 4096 + 5] {
        let a: Vec<u8> = (0..len + 8).map(|i| (i / 3) as u8).collect();
        for pos in [0, 7, 8, 2047, len - 9, len - 8, len - 1] {
            let mut b = a.clone();
            b[1 + pos] ^= 0x01;
            check(&a, &b, 1, 1, len, &|| format!("len {len} at {pos}"));
            check(&a, &a, 1, 1, len, &|| "same".to_string());
        }
    }
}
