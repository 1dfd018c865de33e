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
/// without reading the zeros (the block layer's
/// [`block::crc32c_extended_by_zeros`]: two table multiplications). A
/// node's bytes past its entries are zeros (a third of a small put's nodes
/// on average), and under QEMU's TCG a CRC pass costs about three
/// instructions a byte (docs/speed.md). The value is the one a pass over
/// the zeros gives (`zero_extension_equals_a_pass`).
pub fn crc32c_then_zeros(parts: &[&[u8]], zeros: usize) -> u32 {
    block::crc32c_extended_by_zeros(crc32c(parts), zeros)
}

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
