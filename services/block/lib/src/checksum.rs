//! CRC-32C (Castagnoli), the checksum of every persistent structure.
//!
//! The same polynomial as ext4's jbd2 and iSCSI; the `crc` crate computes it
//! without std (the workspace's `crc32c` crate needs std).

use crc::{Crc, Table, CRC_32_ISCSI};

use crate::BLOCK_SIZE;

/// Sixteen-table slicing: several GB/s on the host without CPU extensions.
const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// CRC-32C of `data`.
pub const fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// An incremental CRC-32C over several pieces.
pub struct Crc32c(crc::Digest<'static, u32, Table<16>>);

impl Crc32c {
    pub fn new() -> Self {
        Self(CRC32C.digest())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
}

/// The CRC-32C polynomial as the register holds it (bit-reflected: the
/// coefficient of x^0 is the top bit).
const POLY_REFLECTED: u32 = 0x82F6_3B78;

/// `a * b mod P` over GF(2), both in the register's reflected form.
/// Hand-written (zlib's `multmodp`): the `crc` crate has no way to extend
/// a checksum over zeros without reading them.
pub(crate) const fn mul_mod_p(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ POLY_REFLECTED
        } else {
            b >> 1
        };
    }
    p
}

/// `x^(8 * 2^k) mod P` for each k: what the register is multiplied by
/// when 2^k zero bytes go through it.
const ZERO_BYTES_POW2: [u32; 32] = {
    // x^1, squared three times: x^8, one zero byte.
    let mut x = 1u32 << 30;
    let mut i = 0;
    while i < 3 {
        x = mul_mod_p(x, x);
        i += 1;
    }
    let mut t = [0u32; 32];
    let mut k = 0;
    while k < 32 {
        t[k] = x;
        x = mul_mod_p(x, x);
        k += 1;
    }
    t
};

/// CRC-32C of a message followed by `zeros` zero bytes, from the
/// message's CRC-32C `crc`, without reading the zeros: each zero byte
/// through the register multiplies it by `x^8 mod P`, so below 4096 zeros
/// it is two multiplications by factors from small tables (zlib's
/// `crc32_combine`). Under QEMU's TCG a CRC pass over a 4 KiB block is
/// ~26,500 cycles; the journal's descriptor and commit blocks and the tree
/// nodes' tails (cowbtree) are mostly zeros (docs/speed.md).
pub fn crc32c_extended_by_zeros(crc: u32, zeros: usize) -> u32 {
    // The register after the message is its CRC with the final XOR undone.
    let mut register = crc ^ 0xFFFF_FFFF;
    let mut rest = zeros;
    while rest >= ZEROS_TABLE * ZEROS_TABLE {
        // Beyond the tables (never for a block's tail).
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
const ZEROS_LOW: [u32; ZEROS_TABLE] = powers(ZERO_BYTES_POW2[0]);

/// `x^(8 * 64 * n) mod P` for `n` in `0..64`: `64 * n` zero bytes.
const ZEROS_HIGH: [u32; ZEROS_TABLE] = powers(ZERO_BYTES_POW2[6]);

/// `x^(8 * zeros) mod P`: the factor [`crc32c_extended_by_zeros`] multiplies
/// the register by, computed once for a length known beforehand (one
/// multiplication per use instead of one per set bit of the length).
const fn zeros_factor(zeros: usize) -> u32 {
    let mut factor = 1u32 << 31; // x^0
    let mut z = zeros as u64;
    let mut k = 0;
    while z != 0 {
        if z & 1 != 0 {
            factor = mul_mod_p(ZERO_BYTES_POW2[k], factor);
        }
        z >>= 1;
        k += 1;
    }
    factor
}

/// Where a sealed image ([`sealed_image_crc`]) keeps its seal.
pub const SEAL_FIELD: usize = 4;
/// Bytes of a sealed image after its magic and seal: what the seal covers
/// besides the block number.
const SEALED_TAIL: usize = BLOCK_SIZE - SEAL_FIELD - 4;
/// Multiplies the register by `SEALED_TAIL` zero bytes.
const SEALED_TAIL_ZEROS: u32 = zeros_factor(SEALED_TAIL);
/// CRC-32C of a block of zeros.
const ZERO_BLOCK_CRC: u32 = crc32c(&[0; BLOCK_SIZE]);

/// The CRC-32C of a whole block image that carries its own seal, read off
/// the seal instead of the 4,096 bytes: the contract of
/// [`crate::Transactional::write_verified`] (a cowbtree node's seal):
/// bytes 4..8 hold, little-endian, `S = crc32c(home as u64 LE ++ image[8..])`.
/// The image is `H ++ R` with `H = image[..8]`; the seal's message is
/// `h ++ R` with `h` the block number. CRC-32C is affine over XOR for
/// messages of one length, so with `Z` the zeros of `R`'s length
/// `crc(H ++ R) = crc(h ++ R) ^ crc((H ^ h) ++ Z) ^ crc(zeros(4096))`,
/// and `crc((H ^ h) ++ Z)` is a CRC of 8 bytes extended by `Z` (one
/// multiplication by a constant): a few hundred instructions against
/// ~10,000 for a pass over the block (docs/speed.md). `None` unless
/// `image` is one block.
///
/// The answer is the image's CRC only when the seal is right; the store
/// takes it for a journal tag only from writers that vouch for the seal
/// (`write_verified`, `SCATTER_SEALED`), never because bytes look like a
/// node.
pub fn sealed_image_crc(home: u64, image: &[u8]) -> Option<u32> {
    if image.len() != BLOCK_SIZE {
        return None;
    }
    let mut field = [0u8; 4];
    field.copy_from_slice(&image[SEAL_FIELD..SEAL_FIELD + 4]);
    let seal = u32::from_le_bytes(field);
    let mut head = [0u8; 8];
    head.copy_from_slice(&image[..8]);
    let head = u64::from_le_bytes(head) ^ home;
    let register = crc32c(&head.to_le_bytes()) ^ 0xFFFF_FFFF;
    let difference = mul_mod_p(SEALED_TAIL_ZEROS, register) ^ 0xFFFF_FFFF;
    Some(seal ^ difference ^ ZERO_BLOCK_CRC)
}

/// CRC-32C of `block` as if its 4-byte checksum field at `field` were zero:
/// the checksum that field must hold. `field + 4 <= block.len()`.
pub fn crc32c_skipping(block: &[u8], field: usize) -> u32 {
    let mut digest = Crc32c::new();
    digest.update(block.get(..field).unwrap_or(&[]));
    digest.update(&[0; 4]);
    digest.update(block.get(field + 4..).unwrap_or(&[]));
    digest.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn incremental_equals_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut d = Crc32c::new();
        d.update(&data[..300]);
        d.update(&data[300..]);
        assert_eq!(d.finish(), crc32c(&data));
    }

    #[test]
    fn extended_by_zeros_equals_the_whole_message() {
        let head: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in [0usize, 1, 4, 40, 299] {
            for zeros in [0usize, 1, 2, 3, 7, 8, 255, 256, 4056, 4095, 70_000] {
                let mut whole = head[..len].to_vec();
                whole.resize(len + zeros, 0);
                assert_eq!(
                    crc32c_extended_by_zeros(crc32c(&head[..len]), zeros),
                    crc32c(&whole),
                    "head {len}, zeros {zeros}"
                );
            }
        }
    }

    /// Seals `image` as `write_verified`'s contract says (cowbtree's seal).
    fn seal(home: u64, image: &mut [u8]) {
        let mut d = Crc32c::new();
        d.update(&home.to_le_bytes());
        d.update(&image[8..]);
        let s = d.finish();
        image[SEAL_FIELD..SEAL_FIELD + 4].copy_from_slice(&s.to_le_bytes());
    }

    #[test]
    fn sealed_image_crc_equals_the_whole_images_crc() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let mut image: Vec<u8> = (0..BLOCK_SIZE).map(|_| next() as u8).collect();
            if round % 3 == 0 {
                // A node's shape: a short head, then zeros to the end.
                image[200..].fill(0);
            }
            let home = match round % 4 {
                0 => 0,
                1 => u64::MAX,
                _ => next() >> (round % 40),
            };
            seal(home, &mut image);
            assert_eq!(
                sealed_image_crc(home, &image),
                Some(crc32c(&image)),
                "{round}"
            );
        }
        assert_eq!(sealed_image_crc(1, &[0u8; 100]), None);
    }

    #[test]
    fn zeros_factor_extends_like_the_bytes() {
        for zeros in [0usize, 1, 7, 4088, 4096, 65_537] {
            let crc = crc32c(b"head");
            let by_factor = mul_mod_p(zeros_factor(zeros), crc ^ 0xFFFF_FFFF) ^ 0xFFFF_FFFF;
            assert_eq!(by_factor, crc32c_extended_by_zeros(crc, zeros), "{zeros}");
        }
    }

    #[test]
    fn skipping_ignores_the_field() {
        let mut block = [5u8; 64];
        let a = crc32c_skipping(&block, 8);
        block[8..12].copy_from_slice(&a.to_le_bytes());
        assert_eq!(crc32c_skipping(&block, 8), a);
    }
}
