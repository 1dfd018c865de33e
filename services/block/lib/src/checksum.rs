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
    fn skipping_ignores_the_field() {
        let mut block = [5u8; 64];
        let a = crc32c_skipping(&block, 8);
        block[8..12].copy_from_slice(&a.to_le_bytes());
        assert_eq!(crc32c_skipping(&block, 8), a);
    }
}
