//! The filesystem's root block: every root and counter in one checksummed
//! block, so one journaled write of it commits a whole operation.
//!
//! # Byte layout (little-endian)
//! ```text
//! offset size field
//!      0    8 MAGIC            b"OCIFSRB1"
//!      8    4 VERSION          1
//!     12    4 CHECKSUM         crc32c of bytes 16..4096
//!     16    8 SEQUENCE         operations committed since mkfs
//!     24    8 NEXT_INO         next inode number to hand out
//!     32    8 CLOCK            logical clock: mtime/ctime source
//!     40    8 NEXT_UPLOAD      next upload id
//!     48    8 LOGICAL_BYTES    sum of file sizes in the live tree
//!     56   48 FS_TREE          cowbtree TreeRoot of the live namespace
//!    104   48 SNAPSHOTS        cowbtree TreeRoot of the snapshot table
//!    152    2 CONTENT_LEN      bytes used in CONTENT
//!    154  256 CONTENT          the content store's encoded root state
//!    410    … zero
//! ```
//! A block of all zeros is a device nobody formatted (the block layer hands
//! out zeroed root blocks); anything else must decode cleanly.
//!
//! # Invariants
//! - Written only inside a block transaction, together with every node and
//!   chunk the roots reach: after a crash the block is the one before or
//!   after the operation, and so is everything it names.
//! - `NEXT_INO` is above every inode number in the live tree and in every
//!   snapshot (it is never rolled back by a restore).

use crate::records::ROOT_INO;

/// CRC-32C (Castagnoli) through the `crc` crate, which builds without std
/// (the workspace's `crc32c` crate needs std and does not build for the
/// ring-3 services); same polynomial, same values.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

pub const MAGIC: [u8; 8] = *b"OCIFSRB1";
pub const VERSION: u32 = 1;
pub const BLOCK_LEN: usize = 4096;
pub const TREE_ROOT_LEN: usize = 48;
pub const CONTENT_ROOT_MAX: usize = 256;

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 8;
const OFF_CHECKSUM: usize = 12;
const OFF_SEQUENCE: usize = 16;
const OFF_NEXT_INO: usize = 24;
const OFF_CLOCK: usize = 32;
const OFF_NEXT_UPLOAD: usize = 40;
const OFF_LOGICAL: usize = 48;
const OFF_FS_TREE: usize = 56;
const OFF_SNAPSHOTS: usize = OFF_FS_TREE + TREE_ROOT_LEN;
const OFF_CONTENT_LEN: usize = OFF_SNAPSHOTS + TREE_ROOT_LEN;
const OFF_CONTENT: usize = OFF_CONTENT_LEN + 2;
const END: usize = OFF_CONTENT + CONTENT_ROOT_MAX;
const _: () = assert!(OFF_SNAPSHOTS == 104 && OFF_CONTENT_LEN == 152 && END == 410);
const _: () = assert!(END <= BLOCK_LEN);

/// Why a root block was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootError {
    BadMagic { found: [u8; 8] },
    BadVersion { found: u32 },
    ChecksumMismatch { stored: u32, computed: u32 },
    ContentTooLong { len: usize, max: usize },
    BadNextIno { next_ino: u64 },
    TrailingBytes,
}

impl core::fmt::Display for RootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootError::BadMagic { found } => write!(f, "fs root block magic {found:02x?}"),
            RootError::BadVersion { found } => {
                write!(
                    f,
                    "fs root block version {found}, this build reads {VERSION}"
                )
            }
            RootError::ChecksumMismatch { stored, computed } => write!(
                f,
                "fs root block checksum: stored {stored:#010x}, computed {computed:#010x}"
            ),
            RootError::ContentTooLong { len, max } => {
                write!(f, "content root of {len} bytes, at most {max}")
            }
            RootError::BadNextIno { next_ino } => {
                write!(f, "next inode {next_ino} is not above the root inode")
            }
            RootError::TrailingBytes => write!(f, "fs root block has bytes after its fields"),
        }
    }
}

/// The decoded root block. Tree roots are kept encoded here and decoded
/// (and checked) by their owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootBlock {
    pub sequence: u64,
    pub next_ino: u64,
    pub clock: u64,
    pub next_upload: u64,
    pub logical_bytes: u64,
    pub fs_tree: [u8; TREE_ROOT_LEN],
    pub snapshots: [u8; TREE_ROOT_LEN],
    pub content_len: u16,
    pub content: [u8; CONTENT_ROOT_MAX],
}

fn u64_at(b: &[u8; BLOCK_LEN], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl RootBlock {
    pub fn content_root(&self) -> &[u8] {
        &self.content[..usize::from(self.content_len).min(CONTENT_ROOT_MAX)]
    }

    pub fn set_content_root(&mut self, bytes: &[u8]) -> Result<(), RootError> {
        if bytes.len() > CONTENT_ROOT_MAX {
            return Err(RootError::ContentTooLong {
                len: bytes.len(),
                max: CONTENT_ROOT_MAX,
            });
        }
        self.content = [0; CONTENT_ROOT_MAX];
        self.content[..bytes.len()].copy_from_slice(bytes);
        // Fits: CONTENT_ROOT_MAX < u16::MAX.
        self.content_len = bytes.len() as u16;
        Ok(())
    }

    pub fn encode(&self) -> [u8; BLOCK_LEN] {
        let mut b = [0u8; BLOCK_LEN];
        b[OFF_MAGIC..OFF_MAGIC + 8].copy_from_slice(&MAGIC);
        b[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
        for (off, v) in [
            (OFF_SEQUENCE, self.sequence),
            (OFF_NEXT_INO, self.next_ino),
            (OFF_CLOCK, self.clock),
            (OFF_NEXT_UPLOAD, self.next_upload),
            (OFF_LOGICAL, self.logical_bytes),
        ] {
            b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[OFF_FS_TREE..OFF_FS_TREE + TREE_ROOT_LEN].copy_from_slice(&self.fs_tree);
        b[OFF_SNAPSHOTS..OFF_SNAPSHOTS + TREE_ROOT_LEN].copy_from_slice(&self.snapshots);
        b[OFF_CONTENT_LEN..OFF_CONTENT_LEN + 2].copy_from_slice(&self.content_len.to_le_bytes());
        b[OFF_CONTENT..END].copy_from_slice(&self.content);
        let sum = crc32c(&b[OFF_SEQUENCE..]);
        b[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// `Ok(None)`: the block is all zeros (never formatted).
    pub fn decode(b: &[u8; BLOCK_LEN]) -> Result<Option<RootBlock>, RootError> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[OFF_MAGIC..OFF_MAGIC + 8]);
        if magic != MAGIC {
            return Err(RootError::BadMagic { found: magic });
        }
        let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if version != VERSION {
            return Err(RootError::BadVersion { found: version });
        }
        let stored = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        let computed = crc32c(&b[OFF_SEQUENCE..]);
        if stored != computed {
            return Err(RootError::ChecksumMismatch { stored, computed });
        }
        if b[END..].iter().any(|&x| x != 0) {
            return Err(RootError::TrailingBytes);
        }
        let content_len = u16::from_le_bytes([b[OFF_CONTENT_LEN], b[OFF_CONTENT_LEN + 1]]);
        if usize::from(content_len) > CONTENT_ROOT_MAX {
            return Err(RootError::ContentTooLong {
                len: usize::from(content_len),
                max: CONTENT_ROOT_MAX,
            });
        }
        let next_ino = u64_at(b, OFF_NEXT_INO);
        if next_ino <= ROOT_INO {
            return Err(RootError::BadNextIno { next_ino });
        }
        let mut fs_tree = [0u8; TREE_ROOT_LEN];
        fs_tree.copy_from_slice(&b[OFF_FS_TREE..OFF_FS_TREE + TREE_ROOT_LEN]);
        let mut snapshots = [0u8; TREE_ROOT_LEN];
        snapshots.copy_from_slice(&b[OFF_SNAPSHOTS..OFF_SNAPSHOTS + TREE_ROOT_LEN]);
        let mut content = [0u8; CONTENT_ROOT_MAX];
        content.copy_from_slice(&b[OFF_CONTENT..END]);
        Ok(Some(RootBlock {
            sequence: u64_at(b, OFF_SEQUENCE),
            next_ino,
            clock: u64_at(b, OFF_CLOCK),
            next_upload: u64_at(b, OFF_NEXT_UPLOAD),
            logical_bytes: u64_at(b, OFF_LOGICAL),
            fs_tree,
            snapshots,
            content_len,
            content,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RootBlock {
        let mut r = RootBlock {
            sequence: 5,
            next_ino: 10,
            clock: 77,
            next_upload: 3,
            logical_bytes: 1 << 33,
            fs_tree: [1; TREE_ROOT_LEN],
            snapshots: [2; TREE_ROOT_LEN],
            content_len: 0,
            content: [0; CONTENT_ROOT_MAX],
        };
        r.set_content_root(&[7; 100]).unwrap();
        r
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let b = r.encode();
        let back = RootBlock::decode(&b).unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.content_root(), &[7; 100][..]);
        assert_eq!(RootBlock::decode(&[0; BLOCK_LEN]), Ok(None));
    }

    #[test]
    fn rejects_corruption() {
        let b = sample().encode();
        for at in [0usize, 8, 13, 20, 60, 200, 409, 4000] {
            let mut bad = b;
            bad[at] ^= 1;
            assert!(RootBlock::decode(&bad).is_err(), "flip at {at} accepted");
        }
        let mut r = sample();
        assert_eq!(
            r.set_content_root(&[0; 257]),
            Err(RootError::ContentTooLong { len: 257, max: 256 })
        );
        r.next_ino = 1;
        assert_eq!(
            RootBlock::decode(&r.encode()),
            Err(RootError::BadNextIno { next_ino: 1 })
        );
    }
}
