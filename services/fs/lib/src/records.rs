//! The filesystem tree's records: keys and values stored in the cowbtree.
//!
//! One B+tree holds the whole namespace. Three record kinds, told apart by
//! the key's first byte; integers in keys are big-endian so that the tree's
//! byte order is numeric order, integers in values little-endian.
//!
//! # Key layouts
//! ```text
//! inode   'I' | ino u64 BE                          (9 bytes)
//! dirent  'D' | parent ino u64 BE | name bytes      (10..=9+NAME_MAX bytes)
//! extent  'X' | ino u64 BE | end offset u64 BE      (17 bytes)
//! ```
//! Extents are keyed by their *exclusive end* offset: the chunk covering
//! file offset `o` is the first extent key greater than `(ino, o)`, one
//! seek, no scan.
//!
//! # Value layouts
//! ```text
//! inode   0 kind u8 | 1 zero u8 | 2 mode u16 | 4 zero u32 | 8 parent u64
//!         | 16 size u64 | 24 mtime u64 | 32 ctime u64
//!         | 40 name (0..=NAME_MAX bytes, the rest of the value)
//!         The name (the dirent's, empty for the root) lets a path be
//!         rebuilt from an inode number by walking parents (diff output).
//! dirent  0 ino u64 | 8 kind u8                                  (9 bytes)
//! extent  0 BLAKE3 chunk hash [32] | 32 chunk length u32         (36 bytes)
//! hole    0 hole length u64                                      (8 bytes)
//! ```
//! An extent key's value is a chunk (36 bytes) or a hole (8 bytes), told
//! apart by the value's length. A hole is a run of zeros that is not
//! stored: `truncate` growing a file, or a write past the end, records one
//! hole whatever its length (1 PiB is one record), reads return zeros for
//! it, GC and fsck have no chunk to mark or check. Disks written before
//! holes have only 36-byte values and read unchanged.
//!
//! # Invariants
//! - Every dirent names an existing inode whose `parent` is the dirent's
//!   directory and whose kind equals the dirent's kind.
//! - A file's extents tile `[0, size)` exactly: consecutive, no gaps, no
//!   overlap, each extent one whole content chunk or one hole (`end - len`
//!   is its start; a hole's length is never 0).
//! - Directories have no extents; the root directory is [`ROOT_INO`] and is
//!   its own parent.
//! - Inode number [`STAGING_DIR`] (0) is never allocated and has no inode
//!   record; its dirents are the staging area of put sessions
//!   ([`crate::put`]): files being written, whose inodes have `parent` 0.
//!   Nothing reachable from the root leads there, so lookups, listings,
//!   walks and diffs never show them, and their sizes are not in the root
//!   block's `logical_bytes`.

use alloc::vec::Vec;

pub const ROOT_INO: u64 = 1;
/// The staging directory of put sessions: dirents only (see the invariants).
pub const STAGING_DIR: u64 = 0;
/// Longest name of one path component: a dirent key (9 bytes + name) must
/// fit the tree's 255-byte key limit.
pub const NAME_MAX: usize = 255 - 9;

pub const TAG_INODE: u8 = b'I';
pub const TAG_DIRENT: u8 = b'D';
pub const TAG_EXTENT: u8 = b'X';

pub const INODE_KEY_LEN: usize = 9;
pub const EXTENT_KEY_LEN: usize = 17;
pub const DIRENT_KEY_MAX: usize = 9 + NAME_MAX;

/// Fixed part of an inode value; the name follows.
pub const INODE_LEN: usize = 40;
const INODE_KIND: usize = 0;
const INODE_MODE: usize = 2;
const INODE_PARENT: usize = 8;
const INODE_SIZE: usize = 16;
const INODE_MTIME: usize = 24;
const INODE_CTIME: usize = 32;
const _: () = assert!(INODE_CTIME + 8 == INODE_LEN);

pub const DIRENT_LEN: usize = 9;
pub const EXTENT_LEN: usize = 36;
pub const HOLE_LEN: usize = 8;
pub const HASH_LEN: usize = 32;

/// What a record's bytes failed to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    BadKey {
        len: usize,
        first: Option<u8>,
    },
    BadLength {
        record: &'static str,
        len: usize,
        expected: usize,
    },
    BadKind {
        kind: u8,
    },
    NonZeroReserved {
        record: &'static str,
    },
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecordError::BadKey { len, first } => {
                write!(
                    f,
                    "tree key of {len} bytes starting {first:?} is no fs record"
                )
            }
            RecordError::BadLength {
                record,
                len,
                expected,
            } => {
                write!(f, "{record} record is {len} bytes, expected {expected}")
            }
            RecordError::BadKind { kind } => write!(f, "inode kind {kind} is neither 1 nor 2"),
            RecordError::NonZeroReserved { record } => {
                write!(f, "{record} record has non-zero reserved bytes")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir = 1,
    File = 2,
}

impl Kind {
    fn from_u8(kind: u8) -> Result<Kind, RecordError> {
        match kind {
            1 => Ok(Kind::Dir),
            2 => Ok(Kind::File),
            kind => Err(RecordError::BadKind { kind }),
        }
    }
}

/// An inode's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub kind: Kind,
    pub mode: u16,
    pub parent: u64,
    pub size: u64,
    pub mtime: u64,
    pub ctime: u64,
    /// The name of this inode's dirent in `parent` (empty for the root).
    pub name: Vec<u8>,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn be64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl Inode {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = alloc::vec![0u8; INODE_LEN];
        b[INODE_KIND] = self.kind as u8;
        b[INODE_MODE..INODE_MODE + 2].copy_from_slice(&self.mode.to_le_bytes());
        b[INODE_PARENT..INODE_PARENT + 8].copy_from_slice(&self.parent.to_le_bytes());
        b[INODE_SIZE..INODE_SIZE + 8].copy_from_slice(&self.size.to_le_bytes());
        b[INODE_MTIME..INODE_MTIME + 8].copy_from_slice(&self.mtime.to_le_bytes());
        b[INODE_CTIME..INODE_CTIME + 8].copy_from_slice(&self.ctime.to_le_bytes());
        b.extend_from_slice(&self.name);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Inode, RecordError> {
        if b.len() < INODE_LEN || b.len() > INODE_LEN + NAME_MAX {
            return Err(RecordError::BadLength {
                record: "inode",
                len: b.len(),
                expected: INODE_LEN,
            });
        }
        // Length checked above: every fixed offset below is in bounds.
        if b[1] != 0 || b[4..8] != [0; 4] {
            return Err(RecordError::NonZeroReserved { record: "inode" });
        }
        Ok(Inode {
            kind: Kind::from_u8(b[INODE_KIND])?,
            mode: u16::from_le_bytes([b[INODE_MODE], b[INODE_MODE + 1]]),
            parent: u64_at(b, INODE_PARENT),
            size: u64_at(b, INODE_SIZE),
            mtime: u64_at(b, INODE_MTIME),
            ctime: u64_at(b, INODE_CTIME),
            name: b[INODE_LEN..].to_vec(),
        })
    }
}

/// A directory entry's value: the child it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirentValue {
    pub ino: u64,
    pub kind: Kind,
}

impl DirentValue {
    pub fn encode(&self) -> [u8; DIRENT_LEN] {
        let mut b = [0u8; DIRENT_LEN];
        b[..8].copy_from_slice(&self.ino.to_le_bytes());
        b[8] = self.kind as u8;
        b
    }

    pub fn decode(b: &[u8]) -> Result<DirentValue, RecordError> {
        if b.len() != DIRENT_LEN {
            return Err(RecordError::BadLength {
                record: "dirent",
                len: b.len(),
                expected: DIRENT_LEN,
            });
        }
        Ok(DirentValue {
            ino: u64_at(b, 0),
            kind: Kind::from_u8(b[8])?,
        })
    }
}

/// An extent's value: one whole content chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentValue {
    pub hash: [u8; HASH_LEN],
    pub len: u32,
}

impl ExtentValue {
    pub fn encode(&self) -> [u8; EXTENT_LEN] {
        let mut b = [0u8; EXTENT_LEN];
        b[..HASH_LEN].copy_from_slice(&self.hash);
        b[HASH_LEN..].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<ExtentValue, RecordError> {
        if b.len() != EXTENT_LEN {
            return Err(RecordError::BadLength {
                record: "extent",
                len: b.len(),
                expected: EXTENT_LEN,
            });
        }
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&b[..HASH_LEN]);
        let len = u32::from_le_bytes([b[32], b[33], b[34], b[35]]);
        Ok(ExtentValue { hash, len })
    }
}

/// What an extent key names: a stored chunk or a hole of zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    Chunk(ExtentValue),
    Hole(u64),
}

impl Extent {
    /// Bytes of the file the extent covers.
    pub fn len(&self) -> u64 {
        match self {
            Extent::Chunk(c) => u64::from(c.len),
            Extent::Hole(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Extent::Chunk(c) => c.encode().to_vec(),
            Extent::Hole(n) => n.to_le_bytes().to_vec(),
        }
    }

    pub fn decode(b: &[u8]) -> Result<Extent, RecordError> {
        if b.len() == HOLE_LEN {
            return Ok(Extent::Hole(u64_at(b, 0)));
        }
        ExtentValue::decode(b).map(Extent::Chunk)
    }
}

pub fn inode_key(ino: u64) -> [u8; INODE_KEY_LEN] {
    let mut k = [0u8; INODE_KEY_LEN];
    k[0] = TAG_INODE;
    k[1..].copy_from_slice(&ino.to_be_bytes());
    k
}

pub fn dirent_key(parent: u64, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + name.len());
    k.push(TAG_DIRENT);
    k.extend_from_slice(&parent.to_be_bytes());
    k.extend_from_slice(name);
    k
}

/// Every dirent of `parent` sorts in `[dirent_key(parent, ""), dirent_key(parent + 1, ""))`.
pub fn dirent_range(parent: u64) -> (Vec<u8>, Vec<u8>) {
    (
        dirent_key(parent, b""),
        dirent_key(parent.saturating_add(1), b""),
    )
}

pub fn extent_key(ino: u64, end: u64) -> [u8; EXTENT_KEY_LEN] {
    let mut k = [0u8; EXTENT_KEY_LEN];
    k[0] = TAG_EXTENT;
    k[1..9].copy_from_slice(&ino.to_be_bytes());
    k[9..].copy_from_slice(&end.to_be_bytes());
    k
}

/// Extents of `ino` ending after `offset`: `[extent_key(ino, offset + 1), extent_key(ino + 1, 0))`.
pub fn extent_range_after(ino: u64, offset: u64) -> ([u8; EXTENT_KEY_LEN], [u8; EXTENT_KEY_LEN]) {
    (
        extent_key(ino, offset.saturating_add(1)),
        extent_key(ino.saturating_add(1), 0),
    )
}

/// A decoded tree key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Inode(u64),
    Dirent { parent: u64, name: &'a [u8] },
    Extent { ino: u64, end: u64 },
}

pub fn parse_key(k: &[u8]) -> Result<Key<'_>, RecordError> {
    let bad = || RecordError::BadKey {
        len: k.len(),
        first: k.first().copied(),
    };
    match k.first() {
        Some(&TAG_INODE) if k.len() == INODE_KEY_LEN => Ok(Key::Inode(be64_at(k, 1))),
        Some(&TAG_DIRENT) if k.len() > 9 && k.len() <= DIRENT_KEY_MAX => Ok(Key::Dirent {
            parent: be64_at(k, 1),
            name: &k[9..],
        }),
        Some(&TAG_EXTENT) if k.len() == EXTENT_KEY_LEN => Ok(Key::Extent {
            ino: be64_at(k, 1),
            end: be64_at(k, 9),
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_round_trip_and_rejects() {
        let i = Inode {
            kind: Kind::File,
            mode: 0o644,
            parent: 7,
            size: 1 << 40,
            mtime: 3,
            ctime: 4,
            name: b"data".to_vec(),
        };
        let b = i.encode();
        assert_eq!(b.len(), INODE_LEN + 4);
        assert_eq!(Inode::decode(&b), Ok(i));
        assert!(matches!(
            Inode::decode(&b[..39]),
            Err(RecordError::BadLength { len: 39, .. })
        ));
        assert!(Inode::decode(&[0u8; INODE_LEN + NAME_MAX + 1]).is_err());
        let mut bad = b.clone();
        bad[0] = 9;
        assert_eq!(Inode::decode(&bad), Err(RecordError::BadKind { kind: 9 }));
        let mut bad = b;
        bad[5] = 1;
        assert_eq!(
            Inode::decode(&bad),
            Err(RecordError::NonZeroReserved { record: "inode" })
        );
    }

    #[test]
    fn dirent_and_extent_round_trip() {
        let d = DirentValue {
            ino: 42,
            kind: Kind::Dir,
        };
        assert_eq!(DirentValue::decode(&d.encode()), Ok(d));
        assert!(DirentValue::decode(&[0; 8]).is_err());
        let e = ExtentValue {
            hash: [9; 32],
            len: 65536,
        };
        assert_eq!(ExtentValue::decode(&e.encode()), Ok(e));
        assert!(ExtentValue::decode(&[0; 37]).is_err());
        let h = Extent::Hole(1 << 50);
        assert_eq!(Extent::decode(&h.encode()), Ok(h));
        assert_eq!(Extent::decode(&e.encode()), Ok(Extent::Chunk(e)));
        assert!(Extent::decode(&[0; 9]).is_err());
    }

    #[test]
    fn keys_sort_numerically_and_parse() {
        assert!(extent_key(1, 255) < extent_key(1, 256));
        assert!(extent_key(1, u64::MAX) < extent_key(2, 0));
        assert!(inode_key(255) < inode_key(256));
        let (lo, hi) = dirent_range(5);
        let k = dirent_key(5, b"zzz");
        assert!(lo <= k && k < hi);
        assert!(dirent_key(4, &[0xff; 10]) < lo);
        assert_eq!(
            parse_key(&k),
            Ok(Key::Dirent {
                parent: 5,
                name: b"zzz"
            })
        );
        assert_eq!(parse_key(&inode_key(3)), Ok(Key::Inode(3)));
        assert_eq!(
            parse_key(&extent_key(3, 9)),
            Ok(Key::Extent { ino: 3, end: 9 })
        );
        assert!(parse_key(b"").is_err());
        assert!(parse_key(&dirent_key(5, b"")).is_err());
        assert!(parse_key(b"Q12345678").is_err());
        let (after_lo, _) = extent_range_after(3, 9);
        assert!(extent_key(3, 9) < after_lo && after_lo <= extent_key(3, 10));
    }
}
