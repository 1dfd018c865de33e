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

use cowbtree::TreeRoot;

use crate::error::FsError;

pub const SNAPSHOT_NAME_MAX: usize = 128;
pub const RECORD_LEN: usize = 64;
const OFF_ROOT: usize = 0;
const OFF_CREATED: usize = 48;
const OFF_LOGICAL: usize = 56;
const _: () = assert!(OFF_ROOT + TreeRoot::ENCODED_LEN == OFF_CREATED);
const _: () = assert!(OFF_LOGICAL + 8 == RECORD_LEN);

/// One snapshot table record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub root: TreeRoot,
    pub created: u64,
    pub logical_bytes: u64,
}

impl SnapshotRecord {
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[OFF_ROOT..OFF_CREATED].copy_from_slice(&self.root.encode());
        b[OFF_CREATED..OFF_LOGICAL].copy_from_slice(&self.created.to_le_bytes());
        b[OFF_LOGICAL..].copy_from_slice(&self.logical_bytes.to_le_bytes());
        b
    }

    pub fn decode(name: &str, b: &[u8]) -> Result<SnapshotRecord, FsError> {
        let bad = |_| FsError::BadSnapshotName {
            name: name.to_string(),
            reason: "corrupt record",
        };
        if b.len() != RECORD_LEN {
            return Err(FsError::BadSnapshotName {
                name: name.to_string(),
                reason: "record has the wrong length",
            });
        }
        let root = TreeRoot::decode(&b[OFF_ROOT..OFF_CREATED]).map_err(|problem| {
            FsError::BadTreeRoot {
                which: "snapshot",
                problem,
            }
        })?;
        let created = u64::from_le_bytes(b[OFF_CREATED..OFF_LOGICAL].try_into().map_err(bad)?);
        let logical_bytes = u64::from_le_bytes(b[OFF_LOGICAL..].try_into().map_err(bad)?);
        Ok(SnapshotRecord {
            root,
            created,
            logical_bytes,
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
}
