//! The roots a stepped fsck or GC run pins, and the snapshot table read a
//! page at a time.
//!
//! A run pins two roots in one transaction: a copy-on-write snapshot of
//! the live tree and one of the snapshot table (`cowbtree::snapshot`).
//! The pinned table names the snapshots of that moment, whose trees are
//! never written again (a snapshot's nodes are at or below its
//! `snapshot_generation`) and are freed by GC only; so the two roots fix
//! every tree of the moment without a list of them in memory, however
//! many snapshots there are. Whoever walks the trees of a pin walks the
//! table's records a page at a time ([`Fs::table_page`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::{Pair, TreeRoot};

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::snapshot_record::SnapshotRecord;

/// Snapshot records read per unit of a walk over a table.
pub(crate) const TABLE_PAGE: usize = 64;

/// A pinned root: a file tree, or a snapshot table whose records name
/// file trees (those are pinned with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pinned {
    Tree(TreeRoot),
    Table(TreeRoot),
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Up to `limit` records (name, value) of the snapshot table at
    /// `table` named after `after` (`None`: from the first), in name
    /// order. Fewer than `limit`: the table ends there.
    pub(crate) fn table_page(
        &mut self,
        table: &TreeRoot,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, FsError> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut cursor = cowbtree::range(&mut self.dev, table, start, Bound::Unbounded)?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(pair) = cursor.next_entry()? else {
                break;
            };
            out.push(pair);
        }
        Ok(out)
    }
}

/// A snapshot table record as stored: its name and what it says.
pub(crate) fn decode_record(key: &[u8], value: &[u8]) -> Result<(String, SnapshotRecord), FsError> {
    let name = String::from_utf8(key.to_vec()).map_err(|_| FsError::BadSnapshotName {
        name: String::new(),
        reason: "stored name is not UTF-8",
    })?;
    let rec = SnapshotRecord::decode(&name, value)?;
    Ok((name, rec))
}
