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
//! quota   'Q' | ...  a limit and its usage, laid out in crate::quota
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
//!         (a `content::ChunkRef` in its own encoding: one layout, one copy)
//! hole    0 hole length u64                                      (8 bytes)
//! inline  0 marker 0xD1 u8 | 1 n u8 | 2 the file's bytes [n]
//!         | zero padding up to 37 bytes          (max(2 + n, 37) bytes)
//! ```
//! An extent key's value is a chunk (36 bytes), a hole (8 bytes) or inline
//! data (37..=2+[`INLINE_MAX`] bytes), told apart by the value's length:
//! an inline value is padded to at least 37 bytes so that no `n` gives it
//! a chunk's or a hole's length (and the marker and exact length are
//! checked, so a damaged chunk or hole value is refused, not read as one).
//!
//! A hole is a run of zeros that is not stored: `truncate` growing a file,
//! or a write past the end, records one hole whatever its length (1 PiB is
//! one record), reads return zeros for it, GC and fsck have no chunk to
//! mark or check. Disks written before holes have only 36-byte values and
//! read unchanged.
//!
//! Inline data (as ext4's inline data, btrfs's inline extents) holds a
//! tiny file's whole contents in its extent record: a registry link (71
//! bytes: `sha256:<64 hex>`) costs no chunk, no block, no content-service
//! call. Its bytes are protected by the tree node's checksum, as every
//! record is; GC has nothing to mark, as for a hole. It is made only where
//! a whole small file is written in one go (a new file's contents, a whole
//! file replaced, a put or upload whose every byte arrives before its
//! first flush); any other change to such a file (append, write at an
//! offset, growing truncate, a stream resumed on it) first turns it into
//! an ordinary chunk. Disks written before inline data have none and read
//! unchanged.
//!
//! # Invariants
//! - Every dirent names an existing inode whose `parent` is the dirent's
//!   directory and whose kind equals the dirent's kind.
//! - A file's extents tile `[0, size)` exactly: consecutive, no gaps, no
//!   overlap, each extent one whole content chunk or one hole (`end - len`
//!   is its start; a hole's length is never 0).
//! - An inline extent is its file's only extent and covers `[0, size)`
//!   exactly: its key's end is the file's size, `1 <= n <= INLINE_MAX`.
//! - Directories have no extents; the root directory is [`ROOT_INO`] and is
//!   its own parent.
//! - Inode number [`STAGING_DIR`] (0) is never allocated and has no inode
//!   record; its dirents are the staging area of put sessions
//!   ([`crate::put`]): files being written, whose inodes have `parent` 0.
//!   Nothing reachable from the root leads there, so lookups, listings,
//!   walks and diffs never show them, and their sizes are not in the root
//!   block's `logical_bytes`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

pub use content::ChunkRef;
use content::ChunkRefDecodeError;
use zerocopy::byteorder::{big_endian, little_endian};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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
pub const DIRENT_LEN: usize = 9;
pub const EXTENT_LEN: usize = ChunkRef::ENCODED_LEN;
pub const HOLE_LEN: usize = 8;
/// Largest file whose bytes are held inline in its extent record. 160
/// holds every registry link (at most `link::MAX_LINK_LEN`, 135 bytes for
/// a SHA-512 one), and an inline leaf entry (3 + 17-byte key + at most 162
/// bytes of value) is never larger than an inode record with a 140-byte
/// name, so a 4 KiB leaf still holds at least 22 of them: fan-out stays
/// what names already make it.
pub const INLINE_MAX: usize = 160;
/// An inline value's first byte.
pub const INLINE_MARKER: u8 = 0xD1;
/// Shortest inline value: longer than a chunk's (see the layouts).
pub const INLINE_MIN_VALUE: usize = EXTENT_LEN + 1;
const _: () = assert!(INLINE_MAX <= u8::MAX as usize && INLINE_MIN_VALUE > HOLE_LEN);
const _: () = assert!(INLINE_MAX >= crate::link::MAX_LINK_LEN);
pub const HASH_LEN: usize = 32;

/// The fixed part of an inode value, field by field.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct InodeBytes {
    kind: u8,
    zero1: u8,
    mode: little_endian::U16,
    zero4: [u8; 4],
    parent: little_endian::U64,
    size: little_endian::U64,
    mtime: little_endian::U64,
    ctime: little_endian::U64,
}
const _: () = assert!(size_of::<InodeBytes>() == INODE_LEN);
const _: () = assert!(
    offset_of!(InodeBytes, mode) == 2
        && offset_of!(InodeBytes, parent) == 8
        && offset_of!(InodeBytes, size) == 16
        && offset_of!(InodeBytes, mtime) == 24
        && offset_of!(InodeBytes, ctime) == 32
);

/// A dirent value.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DirentBytes {
    ino: little_endian::U64,
    kind: u8,
}
const _: () = assert!(size_of::<DirentBytes>() == DIRENT_LEN);

/// A hole's value: its length.
type HoleBytes = little_endian::U64;
const _: () = assert!(size_of::<HoleBytes>() == HOLE_LEN);
const _: () = assert!(EXTENT_LEN == 36 && EXTENT_LEN != HOLE_LEN);

/// An inode key.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct InodeKey {
    tag: u8,
    ino: big_endian::U64,
}
const _: () = assert!(size_of::<InodeKey>() == INODE_KEY_LEN);

/// The fixed head of a dirent key; the name follows.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DirentKeyHead {
    tag: u8,
    parent: big_endian::U64,
}
const _: () = assert!(size_of::<DirentKeyHead>() == 9);

/// An extent key.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ExtentKey {
    tag: u8,
    ino: big_endian::U64,
    end: big_endian::U64,
}
const _: () = assert!(size_of::<ExtentKey>() == EXTENT_KEY_LEN);

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
    /// An extent's chunk reference is no valid `ChunkRef`.
    BadChunk(ChunkRefDecodeError),
    /// An inline extent value that breaks its layout.
    BadInline {
        problem: &'static str,
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
            RecordError::BadChunk(e) => write!(f, "extent record: {e}"),
            RecordError::BadInline { problem } => write!(f, "inline extent record: {problem}"),
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

impl Inode {
    pub fn encode(&self) -> Vec<u8> {
        let fixed = InodeBytes {
            kind: self.kind as u8,
            zero1: 0,
            mode: self.mode.into(),
            zero4: [0; 4],
            parent: self.parent.into(),
            size: self.size.into(),
            mtime: self.mtime.into(),
            ctime: self.ctime.into(),
        };
        let mut b = Vec::with_capacity(INODE_LEN + self.name.len());
        b.extend_from_slice(fixed.as_bytes());
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
        let (fixed, name) = InodeBytes::ref_from_prefix(b).map_err(|_| RecordError::BadLength {
            record: "inode",
            len: b.len(),
            expected: INODE_LEN,
        })?;
        if fixed.zero1 != 0 || fixed.zero4 != [0; 4] {
            return Err(RecordError::NonZeroReserved { record: "inode" });
        }
        Ok(Inode {
            kind: Kind::from_u8(fixed.kind)?,
            mode: fixed.mode.get(),
            parent: fixed.parent.get(),
            size: fixed.size.get(),
            mtime: fixed.mtime.get(),
            ctime: fixed.ctime.get(),
            name: name.to_vec(),
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
        let fields = DirentBytes {
            ino: self.ino.into(),
            kind: self.kind as u8,
        };
        let mut b = [0u8; DIRENT_LEN];
        b.copy_from_slice(fields.as_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<DirentValue, RecordError> {
        let d = DirentBytes::ref_from_bytes(b).map_err(|_| RecordError::BadLength {
            record: "dirent",
            len: b.len(),
            expected: DIRENT_LEN,
        })?;
        Ok(DirentValue {
            ino: d.ino.get(),
            kind: Kind::from_u8(d.kind)?,
        })
    }
}

/// A tiny file's whole contents, held in its extent record: 1 to
/// [`INLINE_MAX`] bytes. Boxed, not a fixed `[u8; INLINE_MAX]`: every
/// [`Extent`] is as large as its largest variant, and the chunks and holes
/// that a large file's reads, GC and snapshot walks go through by the
/// thousand should not each carry 160 bytes that only a tiny file uses.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineData(Box<[u8]>);

impl InlineData {
    /// `data` as inline data; `None` if empty or longer than [`INLINE_MAX`].
    pub fn new(data: &[u8]) -> Option<InlineData> {
        if data.is_empty() || data.len() > INLINE_MAX {
            return None;
        }
        Some(InlineData(data.into()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for InlineData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "InlineData({} bytes)", self.0.len())
    }
}

/// What an extent key names: a stored chunk, a hole of zeros, or a tiny
/// file's bytes held in the record itself. Not `Copy` (inline bytes are
/// boxed): as small as a chunk's reference and a tag, see the size test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extent {
    /// One whole content chunk, stored as its [`ChunkRef`].
    Chunk(ChunkRef),
    Hole(u64),
    /// The file's whole contents (its only extent, from offset 0).
    Inline(InlineData),
}

impl Extent {
    /// Bytes of the file the extent covers.
    pub fn len(&self) -> u64 {
        match self {
            Extent::Chunk(c) => u64::from(c.len),
            Extent::Hole(n) => *n,
            Extent::Inline(d) => d.bytes().len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Extent::Chunk(c) => c.encode().to_vec(),
            Extent::Hole(n) => HoleBytes::new(*n).as_bytes().to_vec(),
            Extent::Inline(d) => {
                let data = d.bytes();
                let mut b = Vec::with_capacity(INLINE_MIN_VALUE.max(2 + data.len()));
                b.push(INLINE_MARKER);
                // `InlineData::new` holds the length to 1..=INLINE_MAX (< 256).
                b.push(data.len() as u8);
                b.extend_from_slice(data);
                b.resize(INLINE_MIN_VALUE.max(b.len()), 0);
                b
            }
        }
    }

    /// An inline value (`b` longer than a chunk's): every byte checked.
    fn decode_inline(b: &[u8]) -> Result<Extent, RecordError> {
        let bad = |problem| Err(RecordError::BadInline { problem });
        let Some((&[marker, n], rest)) = b.split_first_chunk::<2>() else {
            return bad("shorter than its header");
        };
        if marker != INLINE_MARKER {
            return bad("wrong marker byte");
        }
        let n = usize::from(n);
        if n == 0 || n > INLINE_MAX {
            return bad("length 0 or over INLINE_MAX");
        }
        if b.len() != INLINE_MIN_VALUE.max(2 + n) {
            return bad("value length does not match its byte count");
        }
        let (data, padding) = rest.split_at(n);
        if padding.iter().any(|&x| x != 0) {
            return bad("non-zero padding");
        }
        InlineData::new(data)
            .map(Extent::Inline)
            .ok_or(RecordError::BadInline {
                problem: "length 0 or over INLINE_MAX",
            })
    }

    pub fn decode(b: &[u8]) -> Result<Extent, RecordError> {
        if let Ok(hole) = HoleBytes::read_from_bytes(b) {
            return Ok(Extent::Hole(hole.get()));
        }
        if b.len() >= INLINE_MIN_VALUE && b.len() <= INLINE_MIN_VALUE.max(2 + INLINE_MAX) {
            return Extent::decode_inline(b);
        }
        if b.len() != EXTENT_LEN {
            return Err(RecordError::BadLength {
                record: "extent",
                len: b.len(),
                expected: EXTENT_LEN,
            });
        }
        ChunkRef::decode(b)
            .map(Extent::Chunk)
            .map_err(RecordError::BadChunk)
    }
}

pub fn inode_key(ino: u64) -> [u8; INODE_KEY_LEN] {
    let fields = InodeKey {
        tag: TAG_INODE,
        ino: ino.into(),
    };
    let mut k = [0u8; INODE_KEY_LEN];
    k.copy_from_slice(fields.as_bytes());
    k
}

pub fn dirent_key(parent: u64, name: &[u8]) -> Vec<u8> {
    let head = DirentKeyHead {
        tag: TAG_DIRENT,
        parent: parent.into(),
    };
    let mut k = Vec::with_capacity(size_of::<DirentKeyHead>() + name.len());
    k.extend_from_slice(head.as_bytes());
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
    let fields = ExtentKey {
        tag: TAG_EXTENT,
        ino: ino.into(),
        end: end.into(),
    };
    let mut k = [0u8; EXTENT_KEY_LEN];
    k.copy_from_slice(fields.as_bytes());
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
    Dirent {
        parent: u64,
        name: &'a [u8],
    },
    Extent {
        ino: u64,
        end: u64,
    },
    /// A quota record ([`crate::quota`]): not part of the namespace.
    Quota,
}

pub fn parse_key(k: &[u8]) -> Result<Key<'_>, RecordError> {
    let bad = || RecordError::BadKey {
        len: k.len(),
        first: k.first().copied(),
    };
    match k.first() {
        Some(&TAG_INODE) => InodeKey::ref_from_bytes(k)
            .map(|f| Key::Inode(f.ino.get()))
            .map_err(|_| bad()),
        Some(&TAG_DIRENT) if k.len() > 9 && k.len() <= DIRENT_KEY_MAX => {
            let (head, name) = DirentKeyHead::ref_from_prefix(k).map_err(|_| bad())?;
            Ok(Key::Dirent {
                parent: head.parent.get(),
                name,
            })
        }
        Some(&TAG_EXTENT) => ExtentKey::ref_from_bytes(k)
            .map(|f| Key::Extent {
                ino: f.ino.get(),
                end: f.end.get(),
            })
            .map_err(|_| bad()),
        Some(&crate::quota::TAG_QUOTA) if k.len() > 2 => Ok(Key::Quota),
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
        let e = ChunkRef {
            hash: [9; 32],
            len: 65536,
        };
        assert_eq!(ChunkRef::decode(&e.encode()), Ok(e));
        assert!(Extent::decode(&[0; 37]).is_err());
        let h = Extent::Hole(1 << 50);
        assert_eq!(Extent::decode(&h.encode()), Ok(h));
        assert_eq!(Extent::decode(&e.encode()), Ok(Extent::Chunk(e)));
        assert!(Extent::decode(&[0; 9]).is_err());
    }

    #[test]
    fn inline_round_trips_at_every_length_and_never_looks_like_a_chunk_or_hole() {
        for n in 1..=INLINE_MAX {
            let data: Vec<u8> = (0..n).map(|i| i as u8 ^ 0x5a).collect();
            let e = Extent::Inline(InlineData::new(&data).unwrap());
            let b = e.encode();
            assert!(b.len() != EXTENT_LEN && b.len() != HOLE_LEN, "n={n}");
            assert_eq!(b.len(), INLINE_MIN_VALUE.max(2 + n));
            assert_eq!(e.len(), n as u64);
            assert_eq!(Extent::decode(&b), Ok(e));
        }
        assert!(InlineData::new(&[]).is_none());
        assert!(InlineData::new(&[1; INLINE_MAX + 1]).is_none());
    }

    #[test]
    fn malformed_inline_values_are_refused() {
        let good = Extent::Inline(InlineData::new(b"sha256:ab").unwrap()).encode();
        let bad_inline = |b: &[u8]| matches!(Extent::decode(b), Err(RecordError::BadInline { .. }));
        let mut b = good.clone();
        b[0] = 0;
        assert!(bad_inline(&b), "marker");
        let mut b = good.clone();
        b[1] = 0;
        assert!(bad_inline(&b), "zero length");
        let mut b = good.clone();
        b[1] = 40;
        assert!(bad_inline(&b), "length past the value");
        let mut b = good.clone();
        *b.last_mut().unwrap() = 1;
        assert!(bad_inline(&b), "padding");
        let mut b = good.clone();
        b.push(0);
        assert!(bad_inline(&b), "one byte too long");
        let mut long = vec![INLINE_MARKER, INLINE_MAX as u8 + 1];
        long.resize(2 + INLINE_MAX + 1, 7);
        assert!(Extent::decode(&long).is_err(), "over INLINE_MAX");
    }

    /// Extent maps are walked by the thousand (a large file's reads, GC,
    /// snapshot space): an extent is what its usual variant needs, a
    /// chunk's 36-byte reference plus one 8-byte word for the tag and the
    /// alignment a hole's `u64` asks (40 bytes; 168 when inline data was
    /// held by value), however large inline data may be.
    #[test]
    fn an_extent_is_no_larger_than_a_chunk_reference_and_a_tag() {
        assert_eq!(size_of::<ChunkRef>(), EXTENT_LEN);
        assert!(
            size_of::<Extent>() <= EXTENT_LEN + 8,
            "Extent is {} bytes",
            size_of::<Extent>()
        );
    }

    /// The bytes sit where the layouts at the top say (disks written
    /// before the typed layout still read).
    #[test]
    fn bytes_match_the_diagrams() {
        let i = Inode {
            kind: Kind::Dir,
            mode: 0o755,
            parent: 0x0102_0304_0506_0708,
            size: 9,
            mtime: 10,
            ctime: 11,
            name: b"n".to_vec(),
        };
        let mut want = vec![Kind::Dir as u8, 0];
        want.extend_from_slice(&0o755u16.to_le_bytes());
        want.extend_from_slice(&[0; 4]);
        for v in [0x0102_0304_0506_0708u64, 9, 10, 11] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        want.push(b'n');
        assert_eq!(i.encode(), want);
        let d = DirentValue {
            ino: 0x1122,
            kind: Kind::File,
        };
        assert_eq!(d.encode(), [0x22, 0x11, 0, 0, 0, 0, 0, 0, 2]);
        let c = ChunkRef {
            hash: [5; 32],
            len: 0x0001_0203,
        };
        let mut want = vec![5; 32];
        want.extend_from_slice(&[3, 2, 1, 0]);
        assert_eq!(Extent::Chunk(c).encode(), want);
        assert_eq!(Extent::Hole(0x0102).encode(), [2, 1, 0, 0, 0, 0, 0, 0]);
        let mut want = vec![INLINE_MARKER, 2, b'h', b'i'];
        want.resize(INLINE_MIN_VALUE, 0);
        let inline = Extent::Inline(InlineData::new(b"hi").unwrap());
        assert_eq!(inline.encode(), want);
        let long = [b'x'; 71];
        let mut want = vec![INLINE_MARKER, 71];
        want.extend_from_slice(&long);
        assert_eq!(
            Extent::Inline(InlineData::new(&long).unwrap()).encode(),
            want
        );
        assert_eq!(inode_key(0x0102), [b'I', 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(dirent_key(3, b"ab"), b"D\0\0\0\0\0\0\0\x03ab");
        let mut want = vec![b'X'];
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&0x0102u64.to_be_bytes());
        assert_eq!(extent_key(7, 0x0102).to_vec(), want);
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
        assert!(parse_key(b"Z12345678").is_err());
        assert_eq!(parse_key(b"Qdx"), Ok(Key::Quota));
        let (after_lo, _) = extent_range_after(3, 9);
        assert!(extent_key(3, 9) < after_lo && after_lo <= extent_key(3, 10));
    }
}
