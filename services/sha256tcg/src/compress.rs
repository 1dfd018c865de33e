//! The SHA-256 compression function (FIPS 180-4 section 6.2.2), fully
//! unrolled, with TCG-friendly rotates (see the crate root).

pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// `x.rotate_right(N)` whose flags are dead at once: `ror` then `test`
/// (which sets only flags TCG computes inline), in one `asm!` block so the
/// compiler cannot put a memory access between them.
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

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn ror<const N: u32>(x: u32) -> u32 {
    x.rotate_right(N)
}

// The four functions in nested form (as OpenSSL's scalar code): each
// rotate is applied to the running xor, so one register and no copies.
// ror(ror(ror(e,14)^e,5)^e,6) = ror(e,25)^ror(e,11)^ror(e,6).
#[inline(always)]
fn big_sigma1(e: u32) -> u32 {
    ror::<6>(ror::<5>(ror::<14>(e) ^ e) ^ e)
}

/// ror(ror(ror(a,9)^a,11)^a,2) = ror(a,22)^ror(a,13)^ror(a,2).
#[inline(always)]
fn big_sigma0(a: u32) -> u32 {
    ror::<2>(ror::<11>(ror::<9>(a) ^ a) ^ a)
}

/// ror(ror(x,11)^x,7) ^ x>>3 = ror(x,18)^ror(x,7)^x>>3.
#[inline(always)]
fn small_sigma0(x: u32) -> u32 {
    ror::<7>(ror::<11>(x) ^ x) ^ (x >> 3)
}

/// ror(ror(x,2)^x,17) ^ x>>10 = ror(x,19)^ror(x,17)^x>>10.
#[inline(always)]
fn small_sigma1(x: u32) -> u32 {
    ror::<17>(ror::<2>(x) ^ x) ^ (x >> 10)
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
/// `((a^b)&(b^c))^b`: this round's `b^c` is the last round's `a^b`, which
/// the compiler keeps in a register.
macro_rules! round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $kw:expr) => {
        let t1 = $h
            .wrapping_add(big_sigma1($e))
            .wrapping_add((($f ^ $g) & $e) ^ $g)
            .wrapping_add($kw);
        $d = $d.wrapping_add(t1);
        $h = t1
            .wrapping_add(big_sigma0($a))
            .wrapping_add((($a ^ $b) & ($b ^ $c)) ^ $b);
    };
}

/// Eight rounds from `i` (a multiple of 8): after them the variables are
/// back in their own names.
macro_rules! eight_rounds {
    ([$a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident],
     $w:ident, $i:expr, $word:ident) => {
        round!($a, $b, $c, $d, $e, $f, $g, $h, K[$i].wrapping_add($word!($w, $i)));
        round!($h, $a, $b, $c, $d, $e, $f, $g, K[$i + 1].wrapping_add($word!($w, $i + 1)));
        round!($g, $h, $a, $b, $c, $d, $e, $f, K[$i + 2].wrapping_add($word!($w, $i + 2)));
        round!($f, $g, $h, $a, $b, $c, $d, $e, K[$i + 3].wrapping_add($word!($w, $i + 3)));
        round!($e, $f, $g, $h, $a, $b, $c, $d, K[$i + 4].wrapping_add($word!($w, $i + 4)));
        round!($d, $e, $f, $g, $h, $a, $b, $c, K[$i + 5].wrapping_add($word!($w, $i + 5)));
        round!($c, $d, $e, $f, $g, $h, $a, $b, K[$i + 6].wrapping_add($word!($w, $i + 6)));
        round!($b, $c, $d, $e, $f, $g, $h, $a, K[$i + 7].wrapping_add($word!($w, $i + 7)));
    };
}

/// Message word `i` < 16: read as it is used.
macro_rules! load {
    ($w:ident, $i:expr) => {
        $w[$i]
    };
}

/// Message word `i` >= 16, computed in the 16-word ring as it is used.
macro_rules! schedule {
    ($w:ident, $i:expr) => {{
        let j = $i & 15;
        $w[j] = $w[j]
            .wrapping_add(small_sigma1($w[($i - 2) & 15]))
            .wrapping_add($w[($i - 7) & 15])
            .wrapping_add(small_sigma0($w[($i - 15) & 15]));
        $w[j]
    }};
}

/// Compresses each 64-byte block into `state`, in order.
pub(crate) fn compress(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    for block in blocks {
        let mut w = [0u32; 16];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        eight_rounds!([a, b, c, d, e, f, g, h], w, 0, load);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 8, load);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 16, schedule);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 24, schedule);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 32, schedule);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 40, schedule);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 48, schedule);
        eight_rounds!([a, b, c, d, e, f, g, h], w, 56, schedule);
        for (s, x) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(x);
        }
    }
}
