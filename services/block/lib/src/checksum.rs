//! CRC-32C (Castagnoli), the checksum of every persistent structure.
//!
//! The same polynomial as ext4's jbd2 and iSCSI; the `crc` crate computes it
//! without std (the workspace's `crc32c` crate needs std).

use crc::{Crc, Table, CRC_32_ISCSI};

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
const fn mul_mod_p(a: u32, mut b: u32) -> u32 {
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
/// through the register multiplies it by `x^8 mod P`, so `zeros` of them
/// are at most 32 multiplications (zlib's `crc32_combine`). Under QEMU's
/// TCG a CRC pass over a 4 KiB block is ~26,500 cycles; the journal's
/// descriptor and commit blocks are mostly zeros (docs/speed.md).
pub fn crc32c_extended_by_zeros(crc: u32, zeros: usize) -> u32 {
    // The register after the message is its CRC with the final XOR undone.
    let mut register = crc ^ 0xFFFF_FFFF;
    let mut z = zeros as u64;
    let mut k = 0;
    while z != 0 {
        if z & 1 != 0 {
            register = mul_mod_p(ZERO_BYTES_POW2[k], register);
        }
        z >>= 1;
        k += 1;
    }
    register ^ 0xFFFF_FFFF
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

    #[test]
    fn skipping_ignores_the_field() {
        let mut block = [5u8; 64];
        let a = crc32c_skipping(&block, 8);
        block[8..12].copy_from_slice(&a.to_le_bytes());
        assert_eq!(crc32c_skipping(&block, 8), a);
    }
}
