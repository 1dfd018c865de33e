//! Named snapshots of the whole tree: create (O(1)), list (name, time,
//! logical bytes: the record, no tree walked), diff, restore (atomic
//! rollback), delete. A snapshot's exclusive and shared bytes are computed
//! in bounded steps by [`crate::snapshot_space`].
//!
//! A snapshot is a copy of the live tree's `TreeRoot` taken with
//! `cowbtree::snapshot`, which advances the live tree's generation so that
//! every node the two share is copied before the live tree changes it. No
//! node and no data is copied when the snapshot is taken.
//!
//! The snapshot table's record layout is in [`crate::snapshot_record`].
//!
//! # Invariants
//! - Every snapshot root reaches only nodes with generation <= its
//!   `snapshot_generation`; those nodes are never written again, so a
//!   snapshot reads the same until deleted.
//! - GC marks every snapshot's nodes and chunks: a snapshot keeps its
//!   content alive.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::TreeRoot;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::records::{Inode, Kind, ROOT_INO};
pub use crate::snapshot_record::{check_name, SnapshotRecord, SNAPSHOT_NAME_MAX};

mod diff;
pub use diff::{Change, ChangeGroup, ChangeKind, DiffCursor, DiffPage};

/// Most snapshots one [`Fs::snapshot_list_page`] answers.
pub const SNAPSHOT_PAGE_MAX: usize = 64;

/// A snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub created: u64,
    /// Sum of its files' sizes when taken (stored in its record).
    pub logical_bytes: u64,
}

/// One file or directory found by a tree walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    pub path: String,
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    pub(crate) fn snapshot_record(&mut self, name: &str) -> Result<SnapshotRecord, FsError> {
        check_name(name)?;
        let snaps = self.state.snaps;
        match cowbtree::get(&mut self.dev, &snaps, name.as_bytes())? {
            Some(v) => SnapshotRecord::decode(name, &v),
            None => Err(FsError::SnapshotNotFound {
                name: name.to_string(),
            }),
        }
    }

    /// The root of snapshot `name`, or of the live tree for `None`.
    pub(crate) fn tree_of(&mut self, name: Option<&str>) -> Result<TreeRoot, FsError> {
        match name {
            Some(n) => Ok(self.snapshot_record(n)?.root),
            None => Ok(self.state.live),
        }
    }

    /// Takes snapshot `name` of the whole live tree, O(1): one root copy.
    pub fn snapshot_create(&mut self, name: &str) -> Result<(), FsError> {
        check_name(name)?;
        self.atomically(|fs| {
            let snaps = fs.state.snaps;
            if cowbtree::get(&mut fs.dev, &snaps, name.as_bytes())?.is_some() {
                return Err(FsError::SnapshotExists {
                    name: name.to_string(),
                });
            }
            let root = cowbtree::snapshot(&mut fs.state.live)?;
            let created = fs.now();
            let rec = SnapshotRecord {
                root,
                created,
                logical_bytes: fs.state.meta.logical_bytes,
            };
            cowbtree::insert(
                &mut fs.dev,
                &mut fs.state.snaps,
                name.as_bytes(),
                &rec.encode(),
            )?;
            Ok(())
        })?;
        self.event(alloc::format!("snapshot {name} created"));
        Ok(())
    }

    /// Deletes snapshot `name`; its nodes and chunks go at the next GC.
    pub fn snapshot_delete(&mut self, name: &str) -> Result<(), FsError> {
        check_name(name)?;
        self.atomically(|fs| {
            if cowbtree::remove(&mut fs.dev, &mut fs.state.snaps, name.as_bytes())?.is_none() {
                return Err(FsError::SnapshotNotFound {
                    name: name.to_string(),
                });
            }
            Ok(())
        })?;
        self.event(alloc::format!("snapshot {name} deleted"));
        Ok(())
    }

    /// Replaces the live tree by snapshot `name`, atomically. The snapshot
    /// stays. Everything written since (uploads in progress included) is
    /// gone from the live tree, and put sessions in progress are abandoned
    /// (`FsError::PutAbandoned`); inode numbers are never reused.
    pub fn snapshot_restore(&mut self, name: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let rec = fs.snapshot_record(name)?;
            let mut live = rec.root;
            // Give the restored tree a generation of its own, so it never
            // changes in place a node the snapshot reaches.
            cowbtree::snapshot(&mut live)?;
            fs.state.live = live;
            fs.state.quota_kinds = None;
            fs.dirs.clear();
            fs.state.meta.logical_bytes = rec.logical_bytes;
            // Staging files the snapshot caught mid-put never finish
            // (crate::put): dropped, so no session can switch one in.
            fs.reap_staging()?;
            Ok(())
        })?;
        self.event(alloc::format!("live tree restored from snapshot {name}"));
        Ok(())
    }

    /// Every snapshot's record, in name order
    /// (pages of [`Fs::snapshot_list_page`] chained: the whole list).
    pub fn snapshot_list(&mut self) -> Result<Vec<SnapshotInfo>, FsError> {
        let mut out: Vec<SnapshotInfo> = Vec::new();
        loop {
            let after = out.last().map(|s| s.name.clone());
            let (page, more) = self.snapshot_list_page(after.as_deref(), SNAPSHOT_PAGE_MAX)?;
            out.extend(page);
            if !more {
                return Ok(out);
            }
        }
    }

    /// The first snapshot named after `after` (`None`: the first), read
    /// afresh: walking the table one name at a time holds no list.
    fn snapshot_after(
        &mut self,
        after: Option<&str>,
    ) -> Result<Option<(String, SnapshotRecord)>, FsError> {
        let snaps = self.state.snaps;
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes()));
        let mut cursor = cowbtree::range(&mut self.dev, &snaps, start, Bound::Unbounded)?;
        let Some((k, v)) = cursor.next_entry()? else {
            return Ok(None);
        };
        let name = String::from_utf8(k).map_err(|_| FsError::BadSnapshotName {
            name: String::new(),
            reason: "stored name is not UTF-8",
        })?;
        let rec = SnapshotRecord::decode(&name, &v)?;
        Ok(Some((name, rec)))
    }

    /// Up to `limit` (at most [`SNAPSHOT_PAGE_MAX`]) snapshots named after
    /// `after` (`None`: from the first), in name order, and whether more
    /// follow. Each is its record as stored (name, time, logical bytes):
    /// a page reads the table's path to each name and nothing of the
    /// snapshots' trees. What a snapshot holds alone is
    /// [`Fs::snapshot_space_start`]'s question, answered in bounded steps.
    pub fn snapshot_list_page(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SnapshotInfo>, bool), FsError> {
        let limit = limit.clamp(1, SNAPSHOT_PAGE_MAX);
        let mut page: Vec<SnapshotInfo> = Vec::new();
        let mut more = false;
        let mut at = after.map(String::from);
        while let Some((name, rec)) = self.snapshot_after(at.as_deref())? {
            if page.len() == limit {
                more = true;
                break;
            }
            at = Some(name.clone());
            page.push(SnapshotInfo {
                name,
                created: rec.created,
                logical_bytes: rec.logical_bytes,
            });
        }
        Ok((page, more))
    }

    /// The path of inode `ino` in `root`, rebuilt from parent links.
    pub(crate) fn path_of(&mut self, root: &TreeRoot, ino: u64) -> Result<String, FsError> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut at = ino;
        // A chain longer than the number of entries would be a loop.
        let limit = root.entries.saturating_add(1);
        let mut steps = 0u64;
        while at != ROOT_INO {
            let inode: Inode = self.get_inode_in(root, at)?;
            names.push(inode.name);
            at = inode.parent;
            steps += 1;
            if steps > limit {
                return Err(FsError::Corrupt {
                    what: "parent chain loops",
                    ino,
                });
            }
        }
        let mut path = String::new();
        for n in names.iter().rev() {
            path.push('/');
            path.push_str(core::str::from_utf8(n).map_err(|_| FsError::Corrupt {
                what: "inode name not UTF-8",
                ino,
            })?);
        }
        if path.is_empty() {
            path.push('/');
        }
        Ok(path)
    }

    /// Every file and directory of snapshot `name` (`None`: live tree), in
    /// depth-first name order, root excluded.
    pub fn walk(&mut self, name: Option<&str>) -> Result<Vec<WalkEntry>, FsError> {
        let root = self.tree_of(name)?;
        let mut out = Vec::new();
        let mut stack: Vec<(u64, String)> = alloc::vec![(ROOT_INO, String::new())];
        let mut seen_dirs = BTreeSet::new();
        while let Some((dir, prefix)) = stack.pop() {
            if !seen_dirs.insert(dir) {
                return Err(FsError::Corrupt {
                    what: "directory reached twice (cycle)",
                    ino: dir,
                });
            }
            let mut after: Option<String> = None;
            let mut subdirs = Vec::new();
            loop {
                let page = self.list_ino(&root, dir, after.as_deref(), 256)?;
                if page.is_empty() {
                    break;
                }
                for e in &page {
                    let path = alloc::format!("{prefix}/{}", e.name);
                    let inode = self.get_inode_in(&root, e.ino)?;
                    out.push(WalkEntry {
                        path: path.clone(),
                        ino: e.ino,
                        kind: e.kind,
                        size: inode.size,
                    });
                    if e.kind == Kind::Dir {
                        subdirs.push((e.ino, path));
                    }
                }
                after = page.last().map(|e| e.name.clone());
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(out)
    }

    /// Reads from a file in snapshot `name` (`None`: live tree).
    pub fn read_file_in(
        &mut self,
        name: Option<&str>,
        path: &str,
        max: u64,
    ) -> Result<Vec<u8>, FsError> {
        let root = self.tree_of(name)?;
        let (ino, inode) = self.resolve_in(&root, path)?;
        if inode.kind != Kind::File {
            return Err(FsError::IsADirectory {
                path: path.to_string(),
            });
        }
        if inode.size > max {
            return Err(FsError::FileTooLarge {
                path: path.to_string(),
                size: inode.size,
                max,
            });
        }
        self.read_whole(&root, ino, inode.size)
    }
}
