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

#[cfg(test)]
mod tests {
    #[test]
    fn known_value() {
        // The CRC-32C check value of "123456789" (RFC 3720 test vector family).
        assert_eq!(super::crc32c(&[b"1234", b"56789"]), 0xE306_9283);
    }
}
