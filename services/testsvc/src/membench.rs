//! In-guest microbenchmark of bulk copies and fills under QEMU TCG (issue
//! #13, docs/speed.md "Bulk copies and fills under TCG"): the installed
//! `memcpy`/`memset` against `rep movsq`/`rep stosq` (compiler-builtins'
//! shape), `rep movsb`/`rep stosb`, and word loops of 8, 16 and 32 words
//! per iteration, at 4 KiB and 1 MiB, aligned and misaligned. All variants
//! run in one boot, interleaved round by round, so a loaded host slows them
//! alike; the medians of rdtsc cycles are compared.

use alloc::vec;
use alloc::vec::Vec;
use core::arch::asm;
use userlib::{println, sys};

type Copy = unsafe fn(*mut u8, *const u8, usize);
type Fill = unsafe fn(*mut u8, u8, usize);

/// `memcpy` as linked into this program (compiler-builtins' or tcgmem's):
/// a call the compiler cannot see through.
unsafe fn installed_copy(dst: *mut u8, src: *const u8, n: usize) {
    // Safety: the caller's contract (valid, disjoint ranges).
    unsafe {
        core::ptr::copy_nonoverlapping(core::hint::black_box(src), dst, core::hint::black_box(n))
    }
}

unsafe fn installed_fill(dst: *mut u8, byte: u8, n: usize) {
    // Safety: the caller's contract (valid range).
    unsafe { core::ptr::write_bytes(core::hint::black_box(dst), byte, core::hint::black_box(n)) }
}

/// compiler-builtins' x86-64 `memcpy` without `ermsb`: bytes up to an
/// aligned destination, `rep movsq`, the last bytes.
unsafe fn rep_movsq(dst: *mut u8, src: *const u8, n: usize) {
    let pre = ((dst as usize).wrapping_neg() & 7).min(n);
    let (q, b) = ((n - pre) >> 3, (n - pre) & 7);
    // Safety: the caller's contract; three rep moves cover exactly n bytes
    // forward (direction flag clear, as the ABI guarantees).
    unsafe {
        asm!("rep movsb", "mov rcx, {q}", "rep movsq", "mov rcx, {b}", "rep movsb",
            q = in(reg) q, b = in(reg) b,
            inout("rcx") pre => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags))
    }
}

unsafe fn rep_movsb(dst: *mut u8, src: *const u8, n: usize) {
    // Safety: the caller's contract; `rep movsb` copies exactly n bytes.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags))
    }
}

unsafe fn rep_stosq(dst: *mut u8, byte: u8, n: usize) {
    let pre = ((dst as usize).wrapping_neg() & 7).min(n);
    let (q, b) = ((n - pre) >> 3, (n - pre) & 7);
    let word = u64::from(byte) * 0x0101_0101_0101_0101;
    // Safety: the caller's contract; three rep stores cover exactly n bytes.
    unsafe {
        asm!("rep stosb", "mov rcx, {q}", "rep stosq", "mov rcx, {b}", "rep stosb",
            q = in(reg) q, b = in(reg) b,
            inout("rcx") pre => _, inout("rdi") dst => _, in("rax") word,
            options(nostack, preserves_flags))
    }
}

unsafe fn rep_stosb(dst: *mut u8, byte: u8, n: usize) {
    // Safety: the caller's contract; `rep stosb` stores exactly n bytes.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") byte,
            options(nostack, preserves_flags))
    }
}

const COPIES: [(&str, Copy); 6] = [
    ("memcpy", installed_copy),
    ("rep_movsq", rep_movsq),
    ("rep_movsb", rep_movsb),
    ("pairs16", tcgmem::copy_forward_by::<16, false>),
    ("grouped8", tcgmem::copy_forward_by::<8, true>),
    ("grouped16", tcgmem::copy_forward_by::<16, true>),
];

const FILLS: [(&str, Fill); 5] = [
    ("memset", installed_fill),
    ("rep_stosq", rep_stosq),
    ("rep_stosb", rep_stosb),
    ("words8", tcgmem::fill_by::<8>),
    ("words16", tcgmem::fill_by::<16>),
];

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

const PAGE: usize = 4096;
const MIB: usize = 1 << 20;
/// Destination minus source, in bytes. QEMU's software TLB is
/// direct-mapped on the page number, 64 to 256 entries (resized at each
/// flush): pages 1 MiB apart share an entry at every size, pages 1 MiB +
/// 17 pages apart share none.
const APART: usize = MIB + 17 * PAGE;
const SAME_ENTRY: usize = MIB;

/// One measured layout: size, source and destination misalignment,
/// destination distance, rounds, label.
struct Case(usize, usize, usize, usize, usize, &'static str);

const CASES: [Case; 6] = [
    Case(4 * 1024, 0, 0, APART, 301, "aligned"),
    Case(4 * 1024, 3, 5, APART, 301, "misaligned"),
    Case(4 * 1024, 0, 0, SAME_ENTRY, 301, "aligned same-TLB-entry"),
    Case(MIB, 0, 0, APART, 9, "aligned"),
    Case(MIB, 3, 5, APART, 9, "misaligned"),
    Case(MIB, 0, 0, SAME_ENTRY, 9, "aligned same-TLB-entry"),
];

/// The 4 KiB medians (cycles) of the installed `memcpy` (TLB entries
/// apart, and shared) and `memset`, for the figure lines.
pub struct Figures {
    pub copy_4k: u64,
    pub copy_4k_same_entry: u64,
    pub fill_4k: u64,
}

/// Runs every case; prints one table line per case and operation.
pub fn run() -> Figures {
    // One page-aligned buffer holds source and destination, so that their
    // distance (and with it the TLB entries they use) is the case's.
    let words = (APART + MIB + 2 * PAGE) / 8;
    let mut buf = vec![0u64; words];
    for (i, w) in buf.iter_mut().enumerate() {
        *w = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let base = buf.as_mut_ptr().cast::<u8>();
    // Safety: below the buffer's end (APART + MIB + 2 pages).
    let src = unsafe { base.add(to_page(base)) };
    let mut figures = Figures {
        copy_4k: 0,
        copy_4k_same_entry: 0,
        fill_4k: 0,
    };
    for (case, &Case(size, so, dof, distance, rounds, label)) in CASES.iter().enumerate() {
        // Safety: distance + dof + size <= APART + 5 + MIB and the source
        // page offset is below a page: inside the buffer, and source and
        // destination never overlap (distance >= MIB >= size + 8).
        let (s, d) = unsafe { (src.add(so), src.add(distance + dof)) };
        let mut copy: [Vec<u64>; 6] = Default::default();
        let mut fill: [Vec<u64>; 5] = Default::default();
        for round in 0..=rounds {
            for (k, (_, f)) in COPIES.iter().enumerate() {
                let t0 = sys::rdtsc();
                // Safety: s and d are valid, disjoint ranges of `size`.
                unsafe { f(d, s, size) };
                // The first round warms the buffers and translations.
                if round > 0 {
                    copy[k].push(sys::rdtsc() - t0);
                }
            }
            for (k, (_, f)) in FILLS.iter().enumerate() {
                let t0 = sys::rdtsc();
                // Safety: d is a valid range of `size`.
                unsafe { f(d, round as u8, size) };
                if round > 0 {
                    fill[k].push(sys::rdtsc() - t0);
                }
            }
        }
        // Safety: d holds the last fill, `size` bytes.
        let last = unsafe { core::slice::from_raw_parts(d, size) };
        let filled = last.iter().all(|&b| b == rounds as u8);
        let kib = (size / 1024) as u64;
        let mut line = alloc::string::String::new();
        for ((name, _), v) in COPIES.iter().zip(copy) {
            let m = median(v);
            match (case, *name) {
                (0, "memcpy") => figures.copy_4k = m,
                (2, "memcpy") => figures.copy_4k_same_entry = m,
                _ => {}
            }
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {name} {}", m / kib));
        }
        println!("membench: copy {kib} KiB {label}, cycles per KiB:{line}");
        line.clear();
        for ((name, _), v) in FILLS.iter().zip(fill) {
            let m = median(v);
            if (case, *name) == (0, "memset") {
                figures.fill_4k = m;
            }
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {name} {}", m / kib));
        }
        println!("membench: fill {kib} KiB {label}, cycles per KiB:{line}; filled {filled}");
    }
    figures
}

/// Bytes from `p` to the next page boundary.
fn to_page(p: *const u8) -> usize {
    (p as usize).wrapping_neg() & (PAGE - 1)
}
