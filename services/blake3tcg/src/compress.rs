//! The BLAKE3 compression function, 7 rounds of the G mix over a 4x4
//! state (spec section 2.2), with TCG-friendly rotates (see the crate root).

pub(crate) const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];

const MSG_SCHEDULE: [[usize; 16]; 7] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8],
    [3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1],
    [10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6],
    [12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4],
    [9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7],
    [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13],
];

/// `x.rotate_right(N)` whose flags are dead at once: `ror` then `test`
/// (which sets only flags TCG computes inline), in one `asm!` block so the
/// compiler cannot put a memory access between them. Only G's last rotate
/// needs it: the others are followed by an add inside `xor_ror_add`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ror<const N: u32>(x: u32) -> u32 {
    let mut v = x;
    // Safety: register-only arithmetic; touches no memory and no stack, and
    // the asm block's default flags clobber covers `ror` and `test`.
    unsafe {
        core::arch::asm!(
            "ror {v:e}, {n}",
            "test {v:e}, {v:e}",
            v = inout(reg) v,
            n = const N,
            options(pure, nomem, nostack),
        );
    }
    v
}

#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn ror_portable<const N: u32>(x: u32) -> u32 {
    x.rotate_right(N)
}

/// `r = (r ^ x).rotate_right(N); acc += r`, returned as `(r, acc)`: three
/// of G's four rotates are followed by such an add, which makes the
/// rotate's flags dead inside the block (no `test`). The xor and the add
/// are 64-bit: TCG zero-extends the result of every 32-bit operation (one
/// more host instruction each), and the upper halves they leave are never
/// read (`ror r32` reads the low half and clears the upper one; the
/// compiler reads the outputs as `u32`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn xor_ror_add<const N: u32>(r: u32, x: u32, acc: u32) -> (u32, u32) {
    let (mut r, mut acc) = (r, acc);
    // Safety: register-only arithmetic; touches no memory and no stack, and
    // the default flags clobber covers every instruction.
    unsafe {
        core::arch::asm!(
            "xor {r:r}, {x:r}",
            "ror {r:e}, {n}",
            "add {acc:r}, {r:r}",
            r = inout(reg) r,
            acc = inout(reg) acc,
            x = in(reg) x,
            n = const N,
            options(pure, nomem, nostack),
        );
    }
    (r, acc)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn xor_ror_add_portable<const N: u32>(r: u32, x: u32, acc: u32) -> (u32, u32) {
    let r = (r ^ x).rotate_right(N);
    (r, acc.wrapping_add(r))
}

/// Defines G with the given rotate helpers: the `asm!` ones, or the plain
/// ones (other architectures, and the host test's check of the `asm!` G).
macro_rules! g_with {
    ($name:ident, $ror:ident, $xra:ident) => {
        #[inline(always)]
        fn $name(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
            s[a] = s[a].wrapping_add(s[b]).wrapping_add(x);
            (s[d], s[c]) = $xra::<16>(s[d], s[a], s[c]);
            (s[b], s[a]) = $xra::<12>(s[b], s[c], s[a]);
            s[a] = s[a].wrapping_add(y);
            (s[d], s[c]) = $xra::<8>(s[d], s[a], s[c]);
            s[b] = $ror::<7>(s[b] ^ s[c]);
        }
    };
}

#[cfg(target_arch = "x86_64")]
g_with!(g, ror, xor_ror_add);
#[cfg(not(target_arch = "x86_64"))]
g_with!(g, ror_portable, xor_ror_add_portable);
#[cfg(all(test, target_arch = "x86_64"))]
g_with!(g_portable, ror_portable, xor_ror_add_portable);

/// Defines `$name(cv, block, block_len, counter, flags)`, which compresses
/// one 64-byte block into the chaining value `cv` with the G `$g`. Takes
/// the bytes, not words: the words are then loaded straight from the
/// caller's block (x86 loads little-endian), not copied to the stack first.
macro_rules! compress_with {
    ($name:ident, $g:ident) => {
        pub(crate) fn $name(
            cv: &mut [u32; 8],
            block: &[u8; 64],
            block_len: u32,
            counter: u64,
            flags: u32,
        ) {
            #[inline(always)]
            fn round(s: &mut [u32; 16], m: &[u32; 16], r: usize) {
                let p = &MSG_SCHEDULE[r];
                $g(s, 0, 4, 8, 12, m[p[0]], m[p[1]]);
                $g(s, 1, 5, 9, 13, m[p[2]], m[p[3]]);
                $g(s, 2, 6, 10, 14, m[p[4]], m[p[5]]);
                $g(s, 3, 7, 11, 15, m[p[6]], m[p[7]]);
                $g(s, 0, 5, 10, 15, m[p[8]], m[p[9]]);
                $g(s, 1, 6, 11, 12, m[p[10]], m[p[11]]);
                $g(s, 2, 7, 8, 13, m[p[12]], m[p[13]]);
                $g(s, 3, 4, 9, 14, m[p[14]], m[p[15]]);
            }
            let mut m = [0u32; 16];
            for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
                *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
            let m = &m;
            let mut s = [
                cv[0],
                cv[1],
                cv[2],
                cv[3],
                cv[4],
                cv[5],
                cv[6],
                cv[7],
                IV[0],
                IV[1],
                IV[2],
                IV[3],
                counter as u32,
                (counter >> 32) as u32,
                block_len,
                flags,
            ];
            round(&mut s, m, 0);
            round(&mut s, m, 1);
            round(&mut s, m, 2);
            round(&mut s, m, 3);
            round(&mut s, m, 4);
            round(&mut s, m, 5);
            round(&mut s, m, 6);
            for i in 0..8 {
                cv[i] = s[i] ^ s[i + 8];
            }
        }
    };
}

compress_with!(compress, g);

#[cfg(all(test, target_arch = "x86_64"))]
compress_with!(compress_portable, g_portable);

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{compress, compress_portable, IV};

    /// The plain-Rust G (other architectures) computes what the `asm!` G
    /// does, which the integration tests compare with the `blake3` crate.
    #[test]
    fn portable_g_matches_the_asm_g() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..40u32 {
            let block: [u8; 64] = core::array::from_fn(|_| (next() >> 24) as u8);
            let counter = next();
            let flags = (next() & 15) as u32;
            let (mut asm, mut portable) = (IV, IV);
            asm[0] ^= i;
            portable[0] ^= i;
            compress(&mut asm, &block, 64 - i, counter, flags);
            compress_portable(&mut portable, &block, 64 - i, counter, flags);
            assert_eq!(asm, portable, "block {i}");
            assert_ne!(asm, IV);
        }
    }
}
