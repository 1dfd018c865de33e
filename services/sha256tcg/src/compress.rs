//! The SHA-256 compression function (FIPS 180-4 section 6.2.2), fully
//! unrolled, with TCG-friendly rotates (see the crate root).

pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The schedule's sigma functions in nested form (as OpenSSL's scalar
/// code), `ror(ror(x,R1)^x,R2) ^ x>>S`: each rotate is applied to the
/// running xor, so one scratch register and no copies. One `asm!` block on
/// x86-64 (see the crate root): each rotate is followed by a flag-setting
/// `xor`, and only the rotates and the shift are 32-bit.
#[cfg(target_arch = "x86_64")]
macro_rules! sigma_asm {
    ($x:expr, $r1:literal, $r2:literal, $s:literal) => {{
        let x: u32 = $x;
        let t: u32;
        // Safety: register-only arithmetic; touches no memory and no
        // stack, and the default flags clobber covers every instruction.
        unsafe {
            core::arch::asm!(
                "mov {t:r}, {x:r}",
                concat!("ror {t:e}, ", $r1),
                "xor {t:r}, {x:r}",
                concat!("ror {t:e}, ", $r2),
                concat!("shr {x:e}, ", $s),
                "xor {t:r}, {x:r}",
                x = inout(reg) x => _,
                t = out(reg) t,
                options(pure, nomem, nostack),
            );
        }
        t
    }};
}

#[cfg(any(test, not(target_arch = "x86_64")))]
macro_rules! sigma_portable {
    ($x:expr, $r1:literal, $r2:literal, $s:literal) => {{
        let x: u32 = $x;
        (x.rotate_right($r1) ^ x).rotate_right($r2) ^ (x >> $s)
    }};
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// One round. The eight working variables are passed in rotated order
/// instead of moved: only `d` and `h` are written. `Maj` in the form
/// `((a^b)&(b^c))^b`, where this round's `b^c` is the last round's `a^b`,
/// carried in `$bc`.
///
/// On x86-64 the round is one `asm!` block (OpenSSL's scalar sequence with
/// the round constant as an immediate): 27 instructions, every rotate
/// followed by a flag-setting `xor`/`add` with no memory access between;
/// the compiler only places the variables and the message word. Only the
/// rotates are 32-bit: TCG follows each 32-bit operation with a
/// zero-extension of its result, while the 64-bit forms leave the upper
/// halves as garbage that no rotate reads (`ror r32` reads the low half)
/// and the compiler ignores (it reads the registers as `u32`). 6 % more
/// MB/s in the guest than the 32-bit forms (docs/speed.md).
#[cfg(target_arch = "x86_64")]
macro_rules! round_asm {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
     $bc:ident, $k:expr, $w:expr) => {
        let w: u32 = $w;
        let _ = $c;
        // Safety: register-only arithmetic; touches no memory and no stack,
        // and the default flags clobber covers every instruction.
        unsafe {
            core::arch::asm!(
                // h += Sigma1(e) + Ch(e, f, g) + K + W; d += h.
                "mov {t:r}, {e:r}",
                "ror {t:e}, 14",
                "mov {ab:r}, {f:r}",
                "xor {t:r}, {e:r}",
                "xor {ab:r}, {g:r}",
                "ror {t:e}, 5",
                "and {ab:r}, {e:r}",
                "xor {t:r}, {e:r}",
                "xor {ab:r}, {g:r}",
                "ror {t:e}, 6",
                "add {h:r}, {w:r}",
                "add {h:r}, {k}",
                "add {h:r}, {ab:r}",
                "add {h:r}, {t:r}",
                "add {d:r}, {h:r}",
                // h += Sigma0(a) + Maj(a, b, c); ab = a ^ b for the next round.
                "mov {t:r}, {a:r}",
                "mov {ab:r}, {a:r}",
                "ror {t:e}, 9",
                "xor {ab:r}, {b:r}",
                "xor {t:r}, {a:r}",
                "and {bc:r}, {ab:r}",
                "ror {t:e}, 11",
                "xor {bc:r}, {b:r}",
                "xor {t:r}, {a:r}",
                "ror {t:e}, 2",
                "add {h:r}, {bc:r}",
                "add {h:r}, {t:r}",
                a = in(reg) $a,
                b = in(reg) $b,
                e = in(reg) $e,
                f = in(reg) $f,
                g = in(reg) $g,
                d = inout(reg) $d,
                h = inout(reg) $h,
                w = in(reg) w,
                k = const $k as i32,
                bc = inout(reg) $bc => _,
                ab = out(reg) $bc,
                t = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
    };
}

/// The same round in plain Rust: other architectures, and the host tests'
/// check of it against the `asm!` one.
#[cfg(any(test, not(target_arch = "x86_64")))]
macro_rules! round_portable {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
     $bc:ident, $k:expr, $w:expr) => {
        let _ = $c;
        let sigma1 = $e.rotate_right(6) ^ $e.rotate_right(11) ^ $e.rotate_right(25);
        let sigma0 = $a.rotate_right(2) ^ $a.rotate_right(13) ^ $a.rotate_right(22);
        let t1 = $h
            .wrapping_add(sigma1)
            .wrapping_add((($f ^ $g) & $e) ^ $g)
            .wrapping_add($k)
            .wrapping_add($w);
        $d = $d.wrapping_add(t1);
        let ab = $a ^ $b;
        $h = t1.wrapping_add(sigma0).wrapping_add((ab & $bc) ^ $b);
        $bc = ab;
    };
}

/// Eight rounds from `i` (a multiple of 8): after them the variables are
/// back in their own names.
macro_rules! eight_rounds {
    ([$a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident],
     $bc:ident, $w:ident, $i:expr, $word:ident, $round:ident, $sigma:ident) => {
        $round! { $a, $b, $c, $d, $e, $f, $g, $h, $bc, K[$i], $word!($sigma, $w, $i) }
        $round! { $h, $a, $b, $c, $d, $e, $f, $g, $bc, K[$i + 1], $word!($sigma, $w, $i + 1) }
        $round! { $g, $h, $a, $b, $c, $d, $e, $f, $bc, K[$i + 2], $word!($sigma, $w, $i + 2) }
        $round! { $f, $g, $h, $a, $b, $c, $d, $e, $bc, K[$i + 3], $word!($sigma, $w, $i + 3) }
        $round! { $e, $f, $g, $h, $a, $b, $c, $d, $bc, K[$i + 4], $word!($sigma, $w, $i + 4) }
        $round! { $d, $e, $f, $g, $h, $a, $b, $c, $bc, K[$i + 5], $word!($sigma, $w, $i + 5) }
        $round! { $c, $d, $e, $f, $g, $h, $a, $b, $bc, K[$i + 6], $word!($sigma, $w, $i + 6) }
        $round! { $b, $c, $d, $e, $f, $g, $h, $a, $bc, K[$i + 7], $word!($sigma, $w, $i + 7) }
    };
}

/// `eight_rounds!` for each start `$i` in turn, message words by `$word`.
macro_rules! rounds {
    ($vars:tt, $bc:ident, $w:ident, $word:ident, $round:ident, $sigma:ident, [$($i:expr),+]) => {
        $(eight_rounds!($vars, $bc, $w, $i, $word, $round, $sigma);)+
    };
}

/// Message word `i` < 16: read as it is used.
macro_rules! load {
    ($sigma:ident, $w:ident, $i:expr) => {
        $w[$i]
    };
}

/// Message word `i` >= 16, computed in the 16-word ring as it is used.
/// sigma0 = ror(ror(x,11)^x,7) ^ x>>3 = ror(x,18)^ror(x,7)^x>>3 and
/// sigma1 = ror(ror(x,2)^x,17) ^ x>>10 = ror(x,19)^ror(x,17)^x>>10.
macro_rules! schedule {
    ($sigma:ident, $w:ident, $i:expr) => {{
        let j = $i & 15;
        $w[j] = $w[j]
            .wrapping_add($sigma!($w[($i - 2) & 15], 2, 17, 10))
            .wrapping_add($w[($i - 7) & 15])
            .wrapping_add($sigma!($w[($i - 15) & 15], 11, 7, 3));
        $w[j]
    }};
}

/// Defines `$name(state, blocks)`, which compresses each 64-byte block into
/// `state`, in order, with the given round and sigma.
macro_rules! compress_with {
    ($name:ident, $round:ident, $sigma:ident) => {
        pub(crate) fn $name(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
            for block in blocks {
                let mut w = [0u32; 16];
                for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
                    *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
                let mut bc = b ^ c;
                rounds!(
                    [a, b, c, d, e, f, g, h],
                    bc,
                    w,
                    load,
                    $round,
                    $sigma,
                    [0, 8]
                );
                rounds!(
                    [a, b, c, d, e, f, g, h],
                    bc,
                    w,
                    schedule,
                    $round,
                    $sigma,
                    [16, 24, 32, 40, 48, 56]
                );
                // The last round's a^b is not needed: the next block starts anew.
                let _ = bc;
                for (s, x) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                    *s = s.wrapping_add(x);
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
compress_with!(compress, round_asm, sigma_asm);

#[cfg(not(target_arch = "x86_64"))]
compress_with!(compress, round_portable, sigma_portable);

#[cfg(all(test, target_arch = "x86_64"))]
compress_with!(compress_portable, round_portable, sigma_portable);

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{compress, compress_portable, IV};

    /// The plain-Rust rounds (other architectures) compute what the `asm!`
    /// rounds do, which the integration tests compare with `sha2`.
    #[test]
    fn portable_rounds_match_the_asm_rounds() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let blocks: [[u8; 64]; 40] = core::array::from_fn(|_| {
            core::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
        });
        for n in [1, 2, 7, 40] {
            let (mut asm, mut portable) = (IV, IV);
            compress(&mut asm, &blocks[..n]);
            compress_portable(&mut portable, &blocks[..n]);
            assert_eq!(asm, portable, "{n} blocks");
            assert_ne!(asm, IV);
        }
    }
}
