//! One record of the snapshot table (a cowbtree keyed by snapshot name).
//!
//! # Byte layout (little-endian)
//! ```text
//! offset size field
//!      0   48 ROOT           cowbtree TreeRoot of the snapshotted tree
//!     48    8 CREATED        fs time when taken (u64 LE)
//!     56    8 LOGICAL_BYTES  sum of file sizes in the snapshot (u64 LE)
//! ```
//! Names: 1..=[`SNAPSHOT_NAME_MAX`] bytes of `[A-Za-z0-9._-]`, not starting
//! with `.` or `-`.
//!
//! # Invariants
//! - `ROOT` decodes (its own crc32c) and names a tree whose nodes are all
//!   at or below its `snapshot_generation`: never written again.

use alloc::string::ToString;
use core::mem::{offset_of, size_of};

use cowbtree::TreeRoot;
use zerocopy::little_endian::U64;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::FsError;

pub const SNAPSHOT_NAME_MAX: usize = 128;
pub const RECORD_LEN: usize = 64;

/// The layout above, field by field.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RecordBytes {
    root: [u8; TreeRoot::ENCODED_LEN],
    created: U64,
    logical_bytes: U64,
}
const _: () = assert!(size_of::<RecordBytes>() == RECORD_LEN);
const _: () =
    assert!(offset_of!(RecordBytes, created) == 48 && offset_of!(RecordBytes, logical_bytes) == 56);

/// One snapshot table record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub root: TreeRoot,
    pub created: u64,
    pub logical_bytes: u64,
}

impl SnapshotRecord {
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let fields = RecordBytes {
            root: self.root.encode(),
            created: self.created.into(),
            logical_bytes: self.logical_bytes.into(),
        };
        let mut b = [0u8; RECORD_LEN];
        b.copy_from_slice(fields.as_bytes());
        b
    }

    pub fn decode(name: &str, b: &[u8]) -> Result<SnapshotRecord, FsError> {
        let r = RecordBytes::ref_from_bytes(b).map_err(|_| FsError::BadSnapshotName {
            name: name.to_string(),
            reason: "record has the wrong length",
        })?;
        let root = TreeRoot::decode(&r.root).map_err(|problem| FsError::BadTreeRoot {
            which: "snapshot",
            problem,
        })?;
        Ok(SnapshotRecord {
            root,
            created: r.created.get(),
            logical_bytes: r.logical_bytes.get(),
        })
    }
}

pub fn check_name(name: &str) -> Result<(), FsError> {
    let bad = |reason| {
        Err(FsError::BadSnapshotName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > SNAPSHOT_NAME_MAX {
        return bad("longer than 128 bytes");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("starts with '.' or '-'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("allowed characters are A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_names() {
        let rec = SnapshotRecord {
            root: TreeRoot {
                block: 9,
                height: 2,
                generation: 5,
                snapshot_generation: 4,
                entries: 3,
            },
            created: 77,
            logical_bytes: 1 << 35,
        };
        assert_eq!(SnapshotRecord::decode("a", &rec.encode()), Ok(rec));
        assert!(SnapshotRecord::decode("a", &rec.encode()[..63]).is_err());
        let mut bad = rec.encode();
        bad[10] ^= 1;
        assert!(SnapshotRecord::decode("a", &bad).is_err());
        for ok in ["daily-2026.11.23", "a", "X_1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    /// The bytes sit where the diagram at the top says.
    #[test]
    fn bytes_match_the_diagram() {
        let rec = SnapshotRecord {
            root: TreeRoot {
                block: 9,
                height: 2,
                generation: 5,
                snapshot_generation: 4,
                entries: 3,
            },
            created: 77,
            logical_bytes: 1 << 35,
        };
        let b = rec.encode();
        assert_eq!(b[..48], rec.root.encode());
        assert_eq!(b[48..56], 77u64.to_le_bytes());
        assert_eq!(b[56..], (1u64 << 35).to_le_bytes());
    }
}
