//! CRC-32C (Castagnoli), the checksum of nodes and roots: the polynomial of
//! ext4's jbd2 and of the block layer, computed by the `crc` crate (no std).

use crc::{Crc, Table, CRC_32_ISCSI};

const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// CRC-32C of the concatenation of `parts`.
pub fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut digest = CRC32C.digest();
    for p in parts {
        digest.update(p);
    }
    digest.finalize()
}

/// CRC-32C of the concatenation of `parts` followed by `zeros` zero bytes,
/// without reading the zeros: each zero byte through the register
/// multiplies it by `x^8 mod P`, so `zeros` of them are two
/// multiplications by factors from small tables (zlib's `crc32_combine`).
/// A node's bytes past its entries are zeros (a third of a small put's
/// nodes on average), and under QEMU's TCG a CRC pass costs about three
/// instructions a byte (docs/speed.md). The value is the one a pass over
/// the zeros gives (`zero_extension_equals_a_pass`).
pub fn crc32c_then_zeros(parts: &[&[u8]], zeros: usize) -> u32 {
    // The register after the message is its CRC with the final XOR undone.
    let mut register = crc32c(parts) ^ 0xFFFF_FFFF;
    let mut rest = zeros;
    while rest >= ZEROS_TABLE * ZEROS_TABLE {
        // Beyond the tables (never for a node: less than a block of zeros).
        register = mul_mod_p(ZEROS_HIGH[ZEROS_TABLE - 1], register);
        rest -= (ZEROS_TABLE - 1) * ZEROS_TABLE;
    }
    if rest >= ZEROS_TABLE {
        register = mul_mod_p(ZEROS_HIGH[rest / ZEROS_TABLE], register);
    }
    let low = rest % ZEROS_TABLE;
    if low != 0 {
        register = mul_mod_p(ZEROS_LOW[low], register);
    }
    register ^ 0xFFFF_FFFF
}

/// `a * b mod P` over GF(2) in the register's reflected form: the block
/// layer's (its journal tags extend over zeros the same way).
use block::crc32c_mul_mod_p as mul_mod_p;

/// Entries of each factor table: any count of zeros below 64 * 64 = 4096
/// is one factor of each.
const ZEROS_TABLE: usize = 64;

/// `step^i` for `i` in `0..64`, `step` a power of `x` mod P.
const fn powers(step: u32) -> [u32; ZEROS_TABLE] {
    let mut t = [0u32; ZEROS_TABLE];
    let mut x = 1u32 << 31; // x^0
    let mut i = 0;
    while i < ZEROS_TABLE {
        t[i] = x;
        x = mul_mod_p(x, step);
        i += 1;
    }
    t
}

/// `x^(8 * n) mod P` for `n` in `0..64`: `n` zero bytes (`x^8` is one).
const ZEROS_LOW: [u32; ZEROS_TABLE] = powers(1 << (31 - 8));

/// `x^(8 * 64 * n) mod P` for `n` in `0..64`: `64 * n` zero bytes (63 of
/// them times one more is 64).
const ZEROS_HIGH: [u32; ZEROS_TABLE] = powers(mul_mod_p(ZEROS_LOW[ZEROS_TABLE - 1], ZEROS_LOW[1]));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value() {
        // The CRC-32C check value of "123456789" (RFC 3720 test vector family).
        assert_eq!(super::crc32c(&[b"1234", b"56789"]), 0xE306_9283);
    }

    /// Extending over zeros gives what a pass over them gives, for every
    /// count a node can have and past the tables.
    #[test]
    fn zero_extension_equals_a_pass() {
        let zeros = [0u8; 3 * 4096 + 7];
        for head in [&b""[..], b"x", b"123456789", &[0xA5; 40]] {
            let counts = (0..=4100).chain([4096 * 2, 4096 * 2 + 63, 3 * 4096 + 7]);
            for n in counts {
                assert_eq!(
                    crc32c_then_zeros(&[b"ab", head], n),
                    crc32c(&[b"ab", head, &zeros[..n]]),
                    "{n} zeros after {head:?}"
                );
            }
        }
    }
}
