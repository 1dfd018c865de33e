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

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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

/// The layout above, field by field.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Fields {
    magic: [u8; 8],
    version: U32,
    checksum: U32,
    sequence: U64,
    next_ino: U64,
    clock: U64,
    next_upload: U64,
    logical_bytes: U64,
    fs_tree: [u8; TREE_ROOT_LEN],
    snapshots: [u8; TREE_ROOT_LEN],
    content_len: U16,
    content: [u8; CONTENT_ROOT_MAX],
}

/// The whole block: the fields, then zeros.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct BlockBytes {
    fields: Fields,
    zero: [u8; BLOCK_LEN - END],
}

/// Where the checksummed bytes start.
const OFF_SEQUENCE: usize = offset_of!(Fields, sequence);
const END: usize = size_of::<Fields>();
const _: () = assert!(
    offset_of!(Fields, version) == 8
        && offset_of!(Fields, checksum) == 12
        && OFF_SEQUENCE == 16
        && offset_of!(Fields, next_ino) == 24
        && offset_of!(Fields, clock) == 32
        && offset_of!(Fields, next_upload) == 40
        && offset_of!(Fields, logical_bytes) == 48
        && offset_of!(Fields, fs_tree) == 56
        && offset_of!(Fields, snapshots) == 104
        && offset_of!(Fields, content_len) == 152
        && offset_of!(Fields, content) == 154
        && END == 410
);
const _: () = assert!(size_of::<BlockBytes>() == BLOCK_LEN);

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
        let block = BlockBytes {
            fields: Fields {
                magic: MAGIC,
                version: VERSION.into(),
                checksum: 0.into(),
                sequence: self.sequence.into(),
                next_ino: self.next_ino.into(),
                clock: self.clock.into(),
                next_upload: self.next_upload.into(),
                logical_bytes: self.logical_bytes.into(),
                fs_tree: self.fs_tree,
                snapshots: self.snapshots,
                content_len: self.content_len.into(),
                content: self.content,
            },
            zero: [0; BLOCK_LEN - END],
        };
        let mut b: [u8; BLOCK_LEN] = zerocopy::transmute!(block);
        // The block is zeros past the fields: their checksum is extended
        // over the 3,686 zeros without reading them (one commit each, a
        // pass over 4 KiB under QEMU's TCG, issue #13). The same value as
        // a pass (`bytes_match_the_diagram`).
        let sum = cowbtree::crc32c_then_zeros(&[&b[OFF_SEQUENCE..END]], BLOCK_LEN - END);
        let block: &mut BlockBytes = zerocopy::transmute_mut!(&mut b);
        block.fields.checksum = sum.into();
        b
    }

    /// `Ok(None)`: the block is all zeros (never formatted).
    pub fn decode(b: &[u8; BLOCK_LEN]) -> Result<Option<RootBlock>, RootError> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let block: &BlockBytes = zerocopy::transmute_ref!(b);
        let f = &block.fields;
        if f.magic != MAGIC {
            return Err(RootError::BadMagic { found: f.magic });
        }
        let version = f.version.get();
        if version != VERSION {
            return Err(RootError::BadVersion { found: version });
        }
        let stored = f.checksum.get();
        let computed = crc32c(&b[OFF_SEQUENCE..]);
        if stored != computed {
            return Err(RootError::ChecksumMismatch { stored, computed });
        }
        if block.zero.iter().any(|&x| x != 0) {
            return Err(RootError::TrailingBytes);
        }
        let content_len = f.content_len.get();
        if usize::from(content_len) > CONTENT_ROOT_MAX {
            return Err(RootError::ContentTooLong {
                len: usize::from(content_len),
                max: CONTENT_ROOT_MAX,
            });
        }
        let next_ino = f.next_ino.get();
        if next_ino <= ROOT_INO {
            return Err(RootError::BadNextIno { next_ino });
        }
        Ok(Some(RootBlock {
            sequence: f.sequence.get(),
            next_ino,
            clock: f.clock.get(),
            next_upload: f.next_upload.get(),
            logical_bytes: f.logical_bytes.get(),
            fs_tree: f.fs_tree,
            snapshots: f.snapshots,
            content_len,
            content: f.content,
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

    /// The bytes sit where the diagram at the top says (disks written
    /// before the typed layout still mount).
    #[test]
    fn bytes_match_the_diagram() {
        let b = sample().encode();
        let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!(&b[0..8], b"OCIFSRB1");
        assert_eq!(b[8..12], 1u32.to_le_bytes());
        assert_eq!(b[12..16], crc32c(&b[16..]).to_le_bytes());
        assert_eq!(
            [le64(16), le64(24), le64(32), le64(40), le64(48)],
            [5, 10, 77, 3, 1 << 33]
        );
        assert_eq!(b[56..104], [1; 48]);
        assert_eq!(b[104..152], [2; 48]);
        assert_eq!(b[152..154], 100u16.to_le_bytes());
        assert_eq!(b[154..254], [7; 100]);
        assert!(b[254..].iter().all(|&x| x == 0));
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
