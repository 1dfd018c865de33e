//! Named snapshots of the whole tree: create (O(1)), list with exclusive and
//! shared bytes, diff, restore (atomic rollback), delete.
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

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::TreeRoot;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::records::{self, DirentValue, Inode, Kind, ROOT_INO, STAGING_DIR};
pub use crate::snapshot_record::{check_name, SnapshotRecord, SNAPSHOT_NAME_MAX};

/// A snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub created: u64,
    pub logical_bytes: u64,
    /// Bytes of chunks only this snapshot references: what deleting it
    /// (and running GC) would free.
    pub exclusive_bytes: u64,
    /// Bytes of chunks it shares with the live tree or another snapshot.
    pub shared_bytes: u64,
}

/// How a path differs between two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

impl Change {
    /// The change as a listing line (without its newline): `+ /path`
    /// (added), `- /path` (removed), `M /path` (modified).
    pub fn line(&self) -> String {
        let k = match self.kind {
            ChangeKind::Added => '+',
            ChangeKind::Removed => '-',
            ChangeKind::Modified => 'M',
        };
        alloc::format!("{k} {}", self.path)
    }

    /// A listing line back (a page's cursor); `None` if it is no such line.
    pub fn parse_line(line: &str) -> Option<Change> {
        let (k, path) = line.split_once(' ')?;
        let kind = match k {
            "+" => ChangeKind::Added,
            "-" => ChangeKind::Removed,
            "M" => ChangeKind::Modified,
            _ => return None,
        };
        if !path.starts_with('/') {
            return None;
        }
        Some(Change {
            path: path.to_string(),
            kind,
        })
    }
}

/// One page of a diff: the changes after a cursor, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffPage {
    pub changes: Vec<Change>,
    /// More changes follow the last one.
    pub more: bool,
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
    fn snapshot_record(&mut self, name: &str) -> Result<SnapshotRecord, FsError> {
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

    /// Every snapshot's name and record, in name order.
    pub(crate) fn snapshot_records(&mut self) -> Result<Vec<(String, SnapshotRecord)>, FsError> {
        let snaps = self.state.snaps;
        let mut cursor =
            cowbtree::range(&mut self.dev, &snaps, Bound::Unbounded, Bound::Unbounded)?;
        let mut out = Vec::new();
        while let Some((k, v)) = cursor.next_entry()? {
            let name = String::from_utf8(k).map_err(|_| FsError::BadSnapshotName {
                name: String::new(),
                reason: "stored name is not UTF-8",
            })?;
            let rec = SnapshotRecord::decode(&name, &v)?;
            out.push((name, rec));
        }
        Ok(out)
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
            fs.state.meta.logical_bytes = rec.logical_bytes;
            // Staging files the snapshot caught mid-put never finish
            // (crate::put): dropped, so no session can switch one in.
            fs.reap_staging()?;
            Ok(())
        })?;
        self.event(alloc::format!("live tree restored from snapshot {name}"));
        Ok(())
    }

    /// Snapshots with their exclusive and shared bytes. Cost: one scan of
    /// every tree's extents; memory: one entry per distinct chunk.
    pub fn snapshot_list(&mut self) -> Result<Vec<SnapshotInfo>, FsError> {
        let records = self.snapshot_records()?;
        // Per chunk: length, number of roots referencing it, last root seen.
        let mut chunks: BTreeMap<[u8; 32], (u32, u32, usize)> = BTreeMap::new();
        let mut roots: Vec<TreeRoot> = records.iter().map(|(_, r)| r.root).collect();
        roots.push(self.state.live);
        for (i, root) in roots.iter().enumerate() {
            self.for_each_chunk(root, |hash, len| {
                let e = chunks.entry(*hash).or_insert((len, 0, usize::MAX));
                if e.2 != i {
                    e.1 += 1;
                    e.2 = i;
                }
            })?;
        }
        let mut out = Vec::new();
        for (i, (name, rec)) in records.into_iter().enumerate() {
            let mut seen = BTreeSet::new();
            let mut exclusive = 0u64;
            let mut shared = 0u64;
            let root = rec.root;
            self.for_each_chunk(&root, |hash, _| {
                seen.insert(*hash);
            })?;
            for h in seen {
                if let Some(&(len, owners, last)) = chunks.get(&h) {
                    if owners == 1 && last == i {
                        exclusive += u64::from(len);
                    } else {
                        shared += u64::from(len);
                    }
                }
            }
            out.push(SnapshotInfo {
                name,
                created: rec.created,
                logical_bytes: rec.logical_bytes,
                exclusive_bytes: exclusive,
                shared_bytes: shared,
            });
        }
        Ok(out)
    }

    /// Calls `f(hash, len)` for every extent of every file in `root`.
    pub(crate) fn for_each_chunk(
        &mut self,
        root: &TreeRoot,
        mut f: impl FnMut(&[u8; 32], u32),
    ) -> Result<(), FsError> {
        let lo = [records::TAG_EXTENT];
        let hi = [records::TAG_EXTENT + 1];
        let mut cursor = cowbtree::range(
            &mut self.dev,
            root,
            Bound::Included(&lo),
            Bound::Excluded(&hi),
        )?;
        while let Some((k, v)) = cursor.next_entry()? {
            let ino = match records::parse_key(&k) {
                Ok(records::Key::Extent { ino, .. }) => ino,
                _ => 0,
            };
            let ext = records::Extent::decode(&v)
                .map_err(|problem| FsError::BadRecord { ino, problem })?;
            // A hole stores nothing: no chunk, no bytes.
            if let records::Extent::Chunk(c) = ext {
                f(&c.hash, c.len);
            }
        }
        Ok(())
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

    /// Paths added, removed and modified from tree `old` to tree `new`
    /// (snapshot names; `None` is the live tree). Shared subtrees are
    /// skipped unread. A file counts as modified when its contents or
    /// metadata changed; a directory only when it was added or removed.
    ///
    /// The whole list: for a listing of any size use
    /// [`Fs::snapshot_diff_page`], which holds one page.
    pub fn snapshot_diff(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Vec<Change>, FsError> {
        let mut out: BTreeSet<Change> = BTreeSet::new();
        self.for_each_change(old, new, |c| {
            out.insert(c);
        })?;
        Ok(out.into_iter().collect())
    }

    /// Up to `limit` changes from `old` to `new` that sort after `after`
    /// (path, then kind), in order, and whether more follow. Memory: the
    /// page (`limit` + 1 changes) and the diff's changed inode numbers
    /// (16 bytes per changed record, no paths); each page walks the diff
    /// again, so a listing of D changes in pages of P costs D/P walks.
    pub fn snapshot_diff_page(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
        after: Option<&Change>,
        limit: usize,
    ) -> Result<DiffPage, FsError> {
        let keep = limit.saturating_add(1);
        let mut page: BTreeSet<Change> = BTreeSet::new();
        self.for_each_change(old, new, |c| {
            if after.is_some_and(|a| &c <= a) {
                return;
            }
            page.insert(c);
            if page.len() > keep {
                page.pop_last();
            }
        })?;
        let more = page.len() > limit;
        if more {
            page.pop_last();
        }
        Ok(DiffPage {
            changes: page.into_iter().collect(),
            more,
        })
    }

    /// Calls `sink` for each change from `old` to `new`, in no order and
    /// possibly more than once for one change.
    fn for_each_change(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
        mut sink: impl FnMut(Change),
    ) -> Result<(), FsError> {
        let old_root = self.tree_of(old)?;
        let new_root = self.tree_of(new)?;
        // Collected compactly inside the callback (which cannot do I/O):
        // dirent changes and the set of inodes whose records changed.
        let mut dirents: Vec<(Option<u64>, Option<u64>)> = Vec::new();
        let mut inodes: BTreeSet<u64> = BTreeSet::new();
        let mut bad_key = false;
        cowbtree::diff(
            &mut self.dev,
            &old_root,
            &new_root,
            |e| match records::parse_key(&e.key) {
                // Staging files are not in the namespace (crate::put).
                Ok(records::Key::Dirent { parent, .. }) if parent == STAGING_DIR => {}
                // Quotas are no paths (crate::quota).
                Ok(records::Key::Quota) => {}
                Ok(records::Key::Dirent { .. }) => {
                    let ino_of = |v: &Option<Vec<u8>>| {
                        v.as_ref()
                            .and_then(|b| DirentValue::decode(b).ok())
                            .map(|d| d.ino)
                    };
                    dirents.push((ino_of(&e.old), ino_of(&e.new)));
                }
                Ok(records::Key::Inode(ino)) | Ok(records::Key::Extent { ino, .. }) => {
                    inodes.insert(ino);
                }
                Err(_) => bad_key = true,
            },
        )?;
        if bad_key {
            return Err(FsError::Corrupt {
                what: "diff met a key that is no fs record",
                ino: 0,
            });
        }
        for (was, now) in &dirents {
            match (was, now) {
                (None, Some(ino)) => {
                    let path = self.path_of(&new_root, *ino)?;
                    sink(Change {
                        path,
                        kind: ChangeKind::Added,
                    });
                }
                (Some(ino), None) => {
                    let path = self.path_of(&old_root, *ino)?;
                    sink(Change {
                        path,
                        kind: ChangeKind::Removed,
                    });
                }
                (Some(a), Some(b)) if a != b => {
                    let path = self.path_of(&new_root, *b)?;
                    sink(Change {
                        path,
                        kind: ChangeKind::Modified,
                    });
                }
                _ => {}
            }
        }
        for ino in inodes {
            let in_old = cowbtree::get(&mut self.dev, &old_root, &records::inode_key(ino))?;
            let in_new = cowbtree::get(&mut self.dev, &new_root, &records::inode_key(ino))?;
            if let (Some(a), Some(b)) = (in_old, in_new) {
                let a = Inode::decode(&a).map_err(|problem| FsError::BadRecord { ino, problem })?;
                let b = Inode::decode(&b).map_err(|problem| FsError::BadRecord { ino, problem })?;
                // A staging file (in either tree) is no path: a finished
                // put shows through its dirent change above.
                if a.parent == STAGING_DIR || b.parent == STAGING_DIR {
                    continue;
                }
                if b.kind == Kind::File {
                    let old_path = self.path_of(&old_root, ino)?;
                    let new_path = self.path_of(&new_root, ino)?;
                    if old_path != new_path {
                        // Moved: removed here, added there.
                        sink(Change {
                            path: old_path,
                            kind: ChangeKind::Removed,
                        });
                        sink(Change {
                            path: new_path,
                            kind: ChangeKind::Added,
                        });
                    } else if a.size != b.size || a.mtime != b.mtime || a.mode != b.mode {
                        sink(Change {
                            path: new_path,
                            kind: ChangeKind::Modified,
                        });
                    } else {
                        // Only extents changed (same size rewrite in place).
                        sink(Change {
                            path: new_path,
                            kind: ChangeKind::Modified,
                        });
                    }
                }
            }
        }
        Ok(())
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
