//! `memcpy`, `memmove` and `memset` for the kernel and every ring-3 service
//! (userlib links it), tuned for QEMU TCG rather than for a real CPU.
//!
//! Why hand-written (issue #13, docs/speed.md "Bulk copies and fills under
//! TCG"): compiler-builtins' x86-64 versions are `rep movsq` / `rep stosq`,
//! the fastest choice on real processors. QEMU 7.2's TCG translates a `rep`
//! string instruction as ONE element per translated-block execution
//! (`gen_repz` ends the block with a jump back to the same instruction), so
//! every 8 bytes pays a block exit and entry and the `rcx`/`rsi`/`rdi`
//! bookkeeping. A loop of 8-byte loads and stores moves a whole unrolled
//! iteration per block. Measured in the guest (`testsvc::membench`): warm
//! copies 1.1-1.2x faster, fills 1.7x, and copies between pages that share
//! an entry of QEMU's direct-mapped soft TLB 5-16x (see `move_group`).
//!
//! Design principles:
//! - Strong `#[no_mangle]` symbols on the bare-metal target only (the
//!   `symbols` module); compiler-builtins' are weak, so these win at link
//!   time. On the host the functions are plain, tested against a reference.
//! - `#![no_builtins]`: LLVM must not recognise these loops as a copy or
//!   fill idiom and turn them back into a call to `memcpy`/`memset`, which
//!   would be a call to themselves.
//! - Only what the measurement justified: `memcmp`/`bcmp`/`strlen` stay
//!   compiler-builtins' (plain loops already, no `rep`).
//! - One shape for all three: byte steps up to an 8-aligned destination,
//!   then [`UNROLL`] words per loop iteration (copies in groups of eight
//!   loads then eight stores), then single words, then the last bytes.
//!   Every access is in bounds; each group is read whole before it is
//!   written and the groups follow the copy's direction, which is what
//!   makes the overlapping `memmove` cases correct.
#![no_std]
#![no_builtins]

#[cfg(target_os = "none")]
mod symbols;

/// Words (8 bytes) per loop iteration of the installed copy and fill: one
/// translated block under TCG moves this many words.
pub const UNROLL: usize = 16;

/// Bytes of one word.
const W: usize = 8;

/// Copies `n` bytes from `src` to `dst`, lowest address first.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes. The
/// ranges may overlap only if `dst <= src` (the forward `memmove` case).
#[inline(always)]
pub unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    // Safety: the caller's contract is this function's.
    unsafe { copy_forward_by::<UNROLL, true>(dst, src, n) }
}

/// Copies `n` bytes from `src` to `dst`, highest address first.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes. The
/// ranges may overlap only if `dst >= src` (the backward `memmove` case).
#[inline(always)]
pub unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    // Safety: the caller's contract is this function's.
    unsafe { copy_backward_by::<UNROLL, true>(dst, src, n) }
}

/// Sets `n` bytes at `dst` to `byte`.
///
/// # Safety
/// `dst` must be valid for writes of `n` bytes.
#[inline(always)]
pub unsafe fn fill(dst: *mut u8, byte: u8, n: usize) {
    // Safety: the caller's contract is this function's.
    unsafe { fill_by::<UNROLL>(dst, byte, n) }
}

/// `memmove`: copies `n` bytes, correct for any overlap.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes.
#[inline(always)]
pub unsafe fn copy_any(dst: *mut u8, src: *const u8, n: usize) {
    // dst - src (wrapping) >= n: dst is below src, or at least n above it;
    // either way a forward copy reads every byte before it is overwritten.
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // Safety: the caller's contract; overlap only with dst < src.
        unsafe { copy_forward(dst, src, n) }
    } else {
        // Safety: the caller's contract; here src < dst < src + n.
        unsafe { copy_backward(dst, src, n) }
    }
}

/// Words loaded before any is stored, in a grouped copy.
const GROUP: usize = 8;

/// Copies the [`GROUP`] words at `s` to `d`: all loads, then all stores.
///
/// Why grouped: QEMU's software TLB is direct-mapped (64-256 entries);
/// when the source and destination pages share an entry, alternating a
/// load and a store misses on every access (a victim-TLB swap each). Eight
/// loads then eight stores swap twice per group. Eight words fit in
/// registers, so nothing spills to the stack.
///
/// # Safety
/// `s` valid for reads and `d` for writes of [`GROUP`] words, `d` aligned.
#[inline(always)]
unsafe fn move_group(d: *mut u64, s: *const u64) {
    // Safety: the caller's contract; every offset is below GROUP.
    unsafe {
        let (w0, w1, w2, w3) = (
            s.read_unaligned(),
            s.add(1).read_unaligned(),
            s.add(2).read_unaligned(),
            s.add(3).read_unaligned(),
        );
        let (w4, w5, w6, w7) = (
            s.add(4).read_unaligned(),
            s.add(5).read_unaligned(),
            s.add(6).read_unaligned(),
            s.add(7).read_unaligned(),
        );
        d.write(w0);
        d.add(1).write(w1);
        d.add(2).write(w2);
        d.add(3).write(w3);
        d.add(4).write(w4);
        d.add(5).write(w5);
        d.add(6).write(w6);
        d.add(7).write(w7);
    }
}

/// Bytes from `p` up to the next multiple of 8 (0 when aligned).
#[inline(always)]
fn to_word_boundary(p: *const u8) -> usize {
    (p as usize).wrapping_neg() & (W - 1)
}

/// [`copy_forward`] with `WORDS` words per loop iteration, moved in groups
/// of eight (`GROUPED`, `WORDS` a multiple of 8) or word by word (the
/// benchmark compares both and the unroll factors).
///
/// # Safety
/// As [`copy_forward`].
#[inline(always)]
pub unsafe fn copy_forward_by<const WORDS: usize, const GROUPED: bool>(
    mut dst: *mut u8,
    mut src: *const u8,
    mut n: usize,
) {
    const { assert!(WORDS > 0 && (!GROUPED || WORDS.is_multiple_of(GROUP))) };
    // Safety: every pointer stays within [dst, dst + n) and
    // [src, src + n), which the caller guarantees valid; n counts what is
    // left. Word stores go to an 8-aligned dst; loads may be unaligned.
    unsafe {
        if n >= 2 * W {
            let head = to_word_boundary(dst);
            for _ in 0..head {
                *dst = *src;
                dst = dst.add(1);
                src = src.add(1);
            }
            n -= head;
            let (d, s) = (dst as *mut u64, src as *const u64);
            let mut i = 0;
            let words = n / W;
            while words - i >= WORDS {
                // Groups in address order, each read whole before it is
                // written: correct for dst <= src overlap (no write reaches
                // a later read).
                if GROUPED {
                    for g in (0..WORDS).step_by(GROUP) {
                        move_group(d.add(i + g), s.add(i + g));
                    }
                } else {
                    for k in 0..WORDS {
                        d.add(i + k).write(s.add(i + k).read_unaligned());
                    }
                }
                i += WORDS;
            }
            while i < words {
                d.add(i).write(s.add(i).read_unaligned());
                i += 1;
            }
            dst = dst.add(words * W);
            src = src.add(words * W);
            n -= words * W;
        }
        for _ in 0..n {
            *dst = *src;
            dst = dst.add(1);
            src = src.add(1);
        }
    }
}

/// [`copy_backward`] with `WORDS` words per loop iteration, grouped or not
/// as in [`copy_forward_by`].
///
/// # Safety
/// As [`copy_backward`].
#[inline(always)]
pub unsafe fn copy_backward_by<const WORDS: usize, const GROUPED: bool>(
    dst: *mut u8,
    src: *const u8,
    mut n: usize,
) {
    const { assert!(WORDS > 0 && (!GROUPED || WORDS.is_multiple_of(GROUP))) };
    // Safety: `dst.add(n)` / `src.add(n)` are one past the
    // ends of ranges the caller guarantees valid; every access is below
    // them and at or above dst / src, since n counts what is left.
    unsafe {
        let mut dend = dst.add(n);
        let mut send = src.add(n);
        if n >= 2 * W {
            let tail = (dend as usize) & (W - 1);
            for _ in 0..tail {
                dend = dend.sub(1);
                send = send.sub(1);
                *dend = *send;
            }
            n -= tail;
            let words = n / W;
            let (d, s) = (dend as *mut u64, send as *const u64);
            let mut i = 1;
            while words + 1 - i >= WORDS {
                // Highest group first, each read whole before it is
                // written: correct for dst >= src overlap.
                if GROUPED {
                    for g in (0..WORDS).step_by(GROUP) {
                        move_group(d.sub(i + g + GROUP - 1), s.sub(i + g + GROUP - 1));
                    }
                } else {
                    for k in 0..WORDS {
                        d.sub(i + k).write(s.sub(i + k).read_unaligned());
                    }
                }
                i += WORDS;
            }
            while i <= words {
                d.sub(i).write(s.sub(i).read_unaligned());
                i += 1;
            }
            dend = dend.sub(words * W);
            send = send.sub(words * W);
            n -= words * W;
        }
        for _ in 0..n {
            dend = dend.sub(1);
            send = send.sub(1);
            *dend = *send;
        }
    }
}

/// [`fill`] with `WORDS` words per loop iteration.
///
/// # Safety
/// As [`fill`].
#[inline(always)]
pub unsafe fn fill_by<const WORDS: usize>(mut dst: *mut u8, byte: u8, mut n: usize) {
    const { assert!(WORDS > 0) };
    // Safety: every write is within [dst, dst + n) of the
    // caller's valid range; word stores are 8-aligned.
    unsafe {
        if n >= 2 * W {
            let head = to_word_boundary(dst);
            for _ in 0..head {
                *dst = byte;
                dst = dst.add(1);
            }
            n -= head;
            let word = u64::from(byte) * 0x0101_0101_0101_0101;
            let d = dst as *mut u64;
            let words = n / W;
            let mut i = 0;
            while words - i >= WORDS {
                for k in 0..WORDS {
                    d.add(i + k).write(word);
                }
                i += WORDS;
            }
            while i < words {
                d.add(i).write(word);
                i += 1;
            }
            dst = dst.add(words * W);
            n -= words * W;
        }
        for _ in 0..n {
            *dst = byte;
            dst = dst.add(1);
        }
    }
}
