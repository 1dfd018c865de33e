//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` for the kernel and
//! every ring-3 service (userlib links it), tuned for QEMU TCG rather than
//! for a real CPU.
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
//! - Only what the measurement justified: `strlen` stays compiler-builtins'.
//!   `memcmp`/`bcmp` are compiler-builtins' byte loop there (a load pair,
//!   a compare and a branch per byte); the trees' keys share long
//!   prefixes (a tag, then a big-endian inode number), so slice compares
//!   walk many equal bytes: here they go a word at a time ([`compare`]).
//! - One shape for all three: byte steps up to an 8-aligned destination,
//!   then [`UNROLL`] words per loop iteration (copies in groups of eight
//!   loads then eight stores), then single words, then the last bytes.
//!   Every access is in bounds; each group is read whole before it is
//!   written and the groups follow the copy's direction, which is what
//!   makes the overlapping `memmove` cases correct.
//! - The unrolled loops advance their pointers and address each word as
//!   pointer + constant (`as_pointers`): TCG spends three operations on
//!   a scaled-index address, one on this form (copies 8-10 % faster).
//! - Short copies (under [`SMALL`] bytes: the kernel's trap frames and
//!   messages) take groups of four words in registers a C function need not
//!   save; the 8-word groups, which need six saved registers, are out of
//!   line for the long ones (a short copy is otherwise dearer than
//!   `rep movsq`, measured).
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
    unsafe { copy_forward_ret(dst, src, n) };
}

/// [`copy_forward`] returning `dst`, as C's `memcpy` does: the long case
/// is then a jump to its function (no register to keep across a call).
///
/// # Safety
/// As [`copy_forward`].
#[inline(always)]
pub unsafe fn copy_forward_ret(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the caller's contract is this function's.
    unsafe {
        if n < SMALL {
            copy_forward_small(dst, src, n);
            dst
        } else {
            copy_forward_large(dst, src, n)
        }
    }
}

/// Copies `n` bytes from `src` to `dst`, highest address first.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes. The
/// ranges may overlap only if `dst >= src` (the backward `memmove` case).
#[inline(always)]
pub unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    // Safety: the caller's contract is this function's.
    unsafe {
        if n < SMALL {
            copy_backward_small(dst, src, n);
        } else {
            copy_backward_large(dst, src, n);
        }
    }
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
    // Safety: the caller's contract is this function's.
    unsafe { copy_any_ret(dst, src, n) };
}

/// [`copy_any`] returning `dst`, as C's `memmove` does (see
/// [`copy_forward_ret`]).
///
/// # Safety
/// As [`copy_any`].
#[inline(always)]
pub unsafe fn copy_any_ret(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // dst - src (wrapping) >= n: dst is below src, or at least n above it;
    // either way a forward copy reads every byte before it is overwritten.
    let forward = (dst as usize).wrapping_sub(src as usize) >= n;
    // Safety: the caller's contract; a forward copy only when dst < src or
    // the ranges are apart, a backward one when src < dst < src + n.
    unsafe {
        if n >= SMALL {
            return copy_any_large(dst, src, n);
        }
        if forward {
            copy_forward_small(dst, src, n);
        } else {
            copy_backward_small(dst, src, n);
        }
    }
    dst
}

/// Copies shorter than this many bytes take the small path: groups of
/// four words, which need no callee-saved registers.
///
/// Why two paths (issue #13, docs/speed.md "The raw driver's one-request
/// 4 KiB regression"): the kernel copies a 176-byte trap frame twice per
/// system call and 112-byte messages per IPC. With the 8-register groups
/// inlined into the C symbols, every call saved and restored six
/// registers (twelve extra stack accesses, each a soft-TLB lookup under
/// TCG), which made these short copies slower than compiler-builtins'
/// `rep movsq` (null syscall 962 cycles against 910-936). The long copies
/// keep the 8-word groups in a function of their own, reached by a jump.
pub const SMALL: usize = 256;

/// [`copy_forward`] of `n >= SMALL` bytes, out of line (see [`SMALL`]).
///
/// # Safety
/// As [`copy_forward`].
#[inline(never)]
unsafe fn copy_forward_large(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the caller's contract is this function's.
    unsafe { copy_forward_by::<UNROLL, true>(dst, src, n) };
    dst
}

/// [`copy_backward`] of `n >= SMALL` bytes, out of line (see [`SMALL`]).
///
/// # Safety
/// As [`copy_backward`].
#[inline(never)]
unsafe fn copy_backward_large(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the caller's contract is this function's.
    unsafe { copy_backward_by::<UNROLL, true>(dst, src, n) };
    dst
}

/// [`copy_any`] of `n >= SMALL` bytes, out of line (see [`SMALL`]).
///
/// # Safety
/// As [`copy_any`].
#[inline(never)]
unsafe fn copy_any_large(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the caller's contract; the direction as in `copy_any`.
    unsafe {
        if (dst as usize).wrapping_sub(src as usize) >= n {
            copy_forward_by::<UNROLL, true>(dst, src, n)
        } else {
            copy_backward_by::<UNROLL, true>(dst, src, n)
        }
    }
    dst
}

/// Copies the four words at `s` to `d`: all loads, then all stores (as
/// [`move_group`], in registers the caller need not save).
///
/// # Safety
/// `s` valid for reads and `d` for writes of four words, `d` aligned.
#[inline(always)]
unsafe fn move_quad(d: *mut u64, s: *const u64) {
    // Safety: the caller's contract; every offset is below 4.
    unsafe {
        let (w0, w1, w2, w3) = (
            s.read_unaligned(),
            s.add(1).read_unaligned(),
            s.add(2).read_unaligned(),
            s.add(3).read_unaligned(),
        );
        d.write(w0);
        d.add(1).write(w1);
        d.add(2).write(w2);
        d.add(3).write(w3);
    }
}

/// [`copy_forward`] for short copies: bytes up to an 8-aligned
/// destination, groups of four words, single words, the last bytes.
///
/// # Safety
/// As [`copy_forward`].
#[inline(always)]
pub unsafe fn copy_forward_small(mut dst: *mut u8, mut src: *const u8, mut n: usize) {
    // Safety: as in `copy_forward_by`: every access is inside [dst, dst +
    // n) and [src, src + n); each group is read whole before it is
    // written, in address order (correct for dst <= src overlap).
    unsafe {
        if n >= 2 * W {
            let head = to_word_boundary(dst);
            for _ in 0..head {
                *dst = *src;
                dst = dst.add(1);
                src = src.add(1);
            }
            n -= head;
            let words = n / W;
            let (mut d, mut s) = (dst as *mut u64, src as *const u64);
            let end = d.add(words);
            while (end as usize).wrapping_sub(d as usize) >= 4 * W {
                move_quad(d, s);
                d = d.add(4);
                s = s.add(4);
            }
            while d < end {
                d.write(s.read_unaligned());
                d = d.add(1);
                s = s.add(1);
            }
            dst = d as *mut u8;
            src = s as *const u8;
            n -= words * W;
        }
        for _ in 0..n {
            *dst = *src;
            dst = dst.add(1);
            src = src.add(1);
        }
    }
}

/// [`copy_backward`] for short copies (highest group first).
///
/// # Safety
/// As [`copy_backward`].
#[inline(always)]
pub unsafe fn copy_backward_small(dst: *mut u8, src: *const u8, mut n: usize) {
    // Safety: as in `copy_backward_by`: every access is below dst + n /
    // src + n and at or above dst / src; each group is read whole before
    // it is written, highest first (correct for dst >= src overlap).
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
            let (mut d, mut s) = (dend as *mut u64, send as *const u64);
            let start = d.sub(words);
            while (d as usize).wrapping_sub(start as usize) >= 4 * W {
                d = d.sub(4);
                s = s.sub(4);
                move_quad(d, s);
            }
            while d > start {
                d = d.sub(1);
                s = s.sub(1);
                d.write(s.read_unaligned());
            }
            dend = d as *mut u8;
            send = s as *const u8;
            n -= words * W;
        }
        for _ in 0..n {
            dend = dend.sub(1);
            send = send.sub(1);
            *dend = *send;
        }
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

/// Makes `d` and `s` opaque to the optimizer at the top of each unrolled
/// iteration, so the loop advances them as pointers and addresses every
/// word as pointer + constant.
///
/// Why (docs/speed.md, "Lease copies and the copy loop"): LLVM otherwise
/// rewrites the loop around one index register and addresses each word as
/// `[base + index * 8 + disp]`, the cheaper form on a real CPU. QEMU's TCG
/// computes such an address with three operations (shift, add, add) for
/// each load and store, against one for `[base + disp]`: measured in the
/// guest (`testsvc::membench`), copies 8-10 % and fills ~6 % faster in the
/// pointer form. The asm emits nothing.
#[inline(always)]
// The asm takes the pointers' values only, it reads and writes no memory
// (the lint guards asm that dereferences pointers under `nomem`).
#[allow(clippy::pointers_in_nomem_asm_block)]
fn as_pointers<T, U>(d: &mut *mut T, s: &mut *const U) {
    #[cfg(target_arch = "x86_64")]
    // Safety: an empty instruction sequence (a comment naming the two
    // registers); nothing is read, written or changed.
    unsafe {
        let (mut a, mut b) = (*d, *s);
        core::arch::asm!(
            "/* {0} {1} */",
            inout(reg) a,
            inout(reg) b,
            options(nomem, nostack, preserves_flags)
        );
        (*d, *s) = (a, b);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (d, s);
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
            let (mut d, mut s) = (dst as *mut u64, src as *const u64);
            let words = n / W;
            let mut left = words;
            while left >= WORDS {
                as_pointers(&mut d, &mut s);
                // Groups in address order, each read whole before it is
                // written: correct for dst <= src overlap (no write reaches
                // a later read).
                if GROUPED {
                    for g in (0..WORDS).step_by(GROUP) {
                        move_group(d.add(g), s.add(g));
                    }
                } else {
                    for k in 0..WORDS {
                        d.add(k).write(s.add(k).read_unaligned());
                    }
                }
                d = d.add(WORDS);
                s = s.add(WORDS);
                left -= WORDS;
            }
            for k in 0..left {
                d.add(k).write(s.add(k).read_unaligned());
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
            let (mut d, mut s) = (dend as *mut u64, send as *const u64);
            let mut left = words;
            while left >= WORDS {
                d = d.sub(WORDS);
                s = s.sub(WORDS);
                as_pointers(&mut d, &mut s);
                // Highest group first, each read whole before it is
                // written: correct for dst >= src overlap.
                if GROUPED {
                    for g in (0..WORDS).step_by(GROUP).rev() {
                        move_group(d.add(g), s.add(g));
                    }
                } else {
                    for k in (0..WORDS).rev() {
                        d.add(k).write(s.add(k).read_unaligned());
                    }
                }
                left -= WORDS;
            }
            for k in 1..=left {
                d.sub(k).write(s.sub(k).read_unaligned());
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
            let mut d = dst as *mut u64;
            let mut nothing = core::ptr::null::<u64>();
            let words = n / W;
            let mut left = words;
            while left >= WORDS {
                as_pointers(&mut d, &mut nothing);
                for k in 0..WORDS {
                    d.add(k).write(word);
                }
                d = d.add(WORDS);
                left -= WORDS;
            }
            for k in 0..left {
                d.add(k).write(word);
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

/// C `memcmp` of `n` bytes: negative, zero or positive as the first byte
/// that differs (as an unsigned byte) is smaller in `a`, absent, or larger.
///
/// A word (8 bytes, unaligned loads: x86 allows them, and TCG's soft TLB
/// takes them in one lookup unless they cross a page) per step instead of
/// a byte; the first differing byte of a word is its lowest set byte of
/// `x ^ y` (little-endian). The last word of a compare of 8 bytes or more
/// is loaded ending at `n` (overlapping bytes already found equal), so no
/// byte tail; shorter compares go byte by byte.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    // Safety: every offset read is below `n` (the caller's contract).
    unsafe {
        if n < W {
            return compare_bytes(a, b, n);
        }
        let mut i = 0;
        while i + W < n {
            let (x, y) = (word_at(a, i), word_at(b, i));
            if x != y {
                return first_difference(x, y);
            }
            i += W;
        }
        let (x, y) = (word_at(a, n - W), word_at(b, n - W));
        if x != y {
            return first_difference(x, y);
        }
        0
    }
}

/// C `bcmp`: zero if the `n` bytes are equal, else non-zero (no order:
/// one word compare per step, no search for the byte).
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline(always)]
pub unsafe fn differ(a: *const u8, b: *const u8, n: usize) -> i32 {
    // Safety: every offset read is below `n` (the caller's contract).
    unsafe {
        if n < W {
            return compare_bytes(a, b, n);
        }
        let mut i = 0;
        while i + W < n {
            if word_at(a, i) != word_at(b, i) {
                return 1;
            }
            i += W;
        }
        i32::from(word_at(a, n - W) != word_at(b, n - W))
    }
}

/// The 8 bytes at `p + i`, as memory holds them (little-endian).
///
/// # Safety
/// `p + i .. p + i + 8` must be valid for reads.
#[inline(always)]
unsafe fn word_at(p: *const u8, i: usize) -> u64 {
    // Safety: the caller's contract; no alignment is required.
    unsafe { p.add(i).cast::<u64>().read_unaligned() }
}

/// `memcmp`'s answer for two words that differ: their lowest differing
/// byte, as unsigned bytes.
#[inline(always)]
fn first_difference(x: u64, y: u64) -> i32 {
    let shift = (x ^ y).trailing_zeros() & !7;
    i32::from((x >> shift) as u8) - i32::from((y >> shift) as u8)
}

/// `memcmp` byte by byte (fewer than a word's bytes).
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline(always)]
unsafe fn compare_bytes(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // Safety: `i < n` (the caller's contract).
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}
