//! `snap diff`: the paths added, removed and modified between two trees,
//! a page at a time, each page costing work in proportion to the page.
//!
//! A page is one `cowbtree::diff_page` over the two trees: it starts after
//! the previous page's last tree key ([`DiffCursor`]), skips shared
//! subtrees and every subtree below that key unread, and stops after a
//! number of differing records (or of nodes read). Each differing record
//! gives at most two changes, decided from that record alone (plus the
//! inode records of the file it is about), so no page holds or recomputes
//! anything of another page:
//!
//! - a dirent added, removed or pointing at another inode: `+`, `-`, `M`
//!   of its path (a move shows as the old path removed, the new added);
//! - a file's inode record changed while its own name and directory did
//!   not: `M` of its path (or `-` old, `+` new when a directory above it
//!   was renamed); a changed name or directory is left to the dirents;
//! - a file's extents changed while its inode record did not (a rewrite in
//!   place of the same size and time): `M`, once per file: the file's
//!   first changed extent speaks, later ones of the same file stay silent
//!   (the cursor, a tree key, tells a resumed page which file spoke last).
//!
//! Order: the tree's key order, so entries added, removed or replaced come
//! first, grouped by directory (by its inode number, then by name), then
//! modified files (by inode number). A path is rebuilt from its directory's
//! parent chain (`Fs::path_of`), remembered for the page, so a page costs
//! one chain per directory it names.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::Transactional;
use cowbtree::{DiffEntry, DiffLimits, TreeRoot, MAX_KEY_LEN};

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::records::{self, DirentValue, Inode, Key, Kind, ROOT_INO, STAGING_DIR};

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

    /// A listing line back; `None` if it is no such line.
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

/// Where a diff page resumes: the last tree key the previous page
/// compared. Opaque to users; it travels as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffCursor(Vec<u8>);

impl DiffCursor {
    /// Most hex digits a cursor has (a tree key's).
    pub const HEX_MAX: usize = 2 * MAX_KEY_LEN;

    /// The cursor as lowercase hex (at most [`DiffCursor::HEX_MAX`] digits).
    pub fn to_hex(&self) -> String {
        // Hand-written: a dozen lines, where a hex crate would add a
        // dependency to the shared lockfile for them.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    /// A cursor from [`DiffCursor::to_hex`]; `None` for anything else (odd
    /// length, not lowercase hex, longer than a tree key, empty).
    pub fn from_hex(s: &str) -> Option<DiffCursor> {
        let digits = s.as_bytes();
        if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > Self::HEX_MAX {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut key = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks_exact(2) {
            key.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
        }
        Some(DiffCursor(key))
    }
}

/// The changes one differing tree record gives, and the cursor after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGroup {
    /// One or two changes (two: a file moved with a directory above it).
    pub changes: Vec<Change>,
    /// Resumes after this record: a page cut here goes on from it.
    pub after: DiffCursor,
}

/// One page of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffPage {
    /// The page's changes in key order, grouped by the record they come
    /// from (a reply may only be cut between groups).
    pub groups: Vec<ChangeGroup>,
    /// Where the next page starts; `None`: the diff is complete. A page
    /// may be empty and still have a next one (it compared only records
    /// that give no change).
    pub next: Option<DiffCursor>,
    /// Tree nodes the page's diff read (path lookups not included).
    pub nodes_read: u64,
}

impl DiffPage {
    /// The page's changes, in order.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.groups.iter().flat_map(|g| g.changes.iter())
    }
}

/// Directory paths a page has rebuilt, per side: dirents of one directory
/// are adjacent in key order, so most lines reuse one. Bounded: emptied
/// when full.
struct DirPaths {
    known: BTreeMap<(bool, u64), String>,
}

const DIR_PATHS_MAX: usize = 64;

/// Nodes a page may read per differing record asked for (two leaves and
/// their share of branches per side), before it stops early.
const NODES_PER_RECORD: u64 = 4;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Every change from `old` to `new` (snapshot names; `None` is the
    /// live tree), sorted by path. The whole list: a listing of any size
    /// goes through [`Fs::snapshot_diff_page`], which holds one page.
    pub fn snapshot_diff(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Vec<Change>, FsError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.snapshot_diff_page(old, new, after.as_ref(), 256)?;
            out.extend(page.groups.into_iter().flat_map(|g| g.changes));
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }

    /// The changes of up to `limit` differing tree records after `after`
    /// (`None`: from the start), in key order (module docs), and the
    /// cursor of the next page. Shared subtrees and everything before
    /// `after` are skipped unread: a page reads about one path per side
    /// down to `after` plus the nodes holding its records (at most
    /// `4 * limit + 64` before it stops early), and holds its records and
    /// at most `2 * limit` changes.
    pub fn snapshot_diff_page(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
        after: Option<&DiffCursor>,
        limit: usize,
    ) -> Result<DiffPage, FsError> {
        let old_root = self.tree_of(old)?;
        let new_root = self.tree_of(new)?;
        let limit = limit.max(1);
        let limits = DiffLimits {
            entries: limit,
            nodes: (limit as u64)
                .saturating_mul(NODES_PER_RECORD)
                .saturating_add(64),
        };
        let mut records = Vec::new();
        let end = cowbtree::diff_page(
            &mut self.dev,
            &old_root,
            &new_root,
            after.map(|c| c.0.as_slice()),
            limits,
            |e| records.push(e),
        )?;
        // The file whose extents last spoke (or were left to its inode).
        let mut extents_of = after.and_then(|c| match records::parse_key(&c.0) {
            Ok(Key::Extent { ino, .. }) => Some(ino),
            _ => None,
        });
        let mut dirs = DirPaths {
            known: BTreeMap::new(),
        };
        let mut groups = Vec::new();
        for e in records {
            let changes = self.changes_of(&old_root, &new_root, &e, &mut extents_of, &mut dirs)?;
            if !changes.is_empty() {
                groups.push(ChangeGroup {
                    changes,
                    after: DiffCursor(e.key),
                });
            }
        }
        Ok(DiffPage {
            groups,
            next: end.resume_after.map(DiffCursor),
            nodes_read: end.stats.nodes_read,
        })
    }

    /// The changes one differing record gives (module docs).
    fn changes_of(
        &mut self,
        old_root: &TreeRoot,
        new_root: &TreeRoot,
        e: &DiffEntry,
        extents_of: &mut Option<u64>,
        dirs: &mut DirPaths,
    ) -> Result<Vec<Change>, FsError> {
        let key = records::parse_key(&e.key).map_err(|_| FsError::Corrupt {
            what: "diff met a key that is no fs record",
            ino: 0,
        })?;
        let mut out = Vec::new();
        match key {
            // Staging files are not in the namespace (crate::put); quotas
            // are no paths (crate::quota).
            Key::Dirent { parent, .. } if parent == STAGING_DIR => {}
            Key::Quota => {}
            Key::Dirent { parent, name } => {
                let ino_of = |v: &Option<Vec<u8>>| -> Result<Option<u64>, FsError> {
                    v.as_deref()
                        .map(|b| {
                            DirentValue::decode(b).map(|d| d.ino).map_err(|problem| {
                                FsError::BadRecord {
                                    ino: parent,
                                    problem,
                                }
                            })
                        })
                        .transpose()
                };
                let (kind, new_side) = match (ino_of(&e.old)?, ino_of(&e.new)?) {
                    (None, Some(_)) => (ChangeKind::Added, true),
                    (Some(_), None) => (ChangeKind::Removed, false),
                    (Some(a), Some(b)) if a != b => (ChangeKind::Modified, true),
                    _ => return Ok(out),
                };
                let root = if new_side { new_root } else { old_root };
                let path = self.path_in(root, new_side, parent, name, dirs)?;
                out.push(Change { path, kind });
            }
            Key::Inode(ino) => {
                if let (Some(a), Some(b)) = (&e.old, &e.new) {
                    let a =
                        Inode::decode(a).map_err(|problem| FsError::BadRecord { ino, problem })?;
                    let b =
                        Inode::decode(b).map_err(|problem| FsError::BadRecord { ino, problem })?;
                    // A new name or directory shows through the dirents.
                    if a.parent == b.parent && a.name == b.name {
                        self.file_changed(old_root, new_root, &a, &b, dirs, &mut out)?;
                    }
                }
                // Added or removed: its dirent says so.
            }
            Key::Extent { ino, .. } => {
                if *extents_of == Some(ino) {
                    return Ok(out);
                }
                *extents_of = Some(ino);
                let a = cowbtree::get(&mut self.dev, old_root, &records::inode_key(ino))?;
                let b = cowbtree::get(&mut self.dev, new_root, &records::inode_key(ino))?;
                // Unchanged inode record: no other record speaks for the
                // file. Changed, added or removed: its inode or dirent does.
                if let (Some(a), Some(b)) = (a, b) {
                    if a == b {
                        let a = Inode::decode(&a)
                            .map_err(|problem| FsError::BadRecord { ino, problem })?;
                        self.file_changed(old_root, new_root, &a, &a, dirs, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// A file changed in place: `M` of its path, or `-` its old path and
    /// `+` its new one when a directory above it was renamed. Staging files
    /// (a put in progress, in either tree) and directories give nothing: a
    /// finished put shows through its dirent.
    fn file_changed(
        &mut self,
        old_root: &TreeRoot,
        new_root: &TreeRoot,
        a: &Inode,
        b: &Inode,
        dirs: &mut DirPaths,
        out: &mut Vec<Change>,
    ) -> Result<(), FsError> {
        if a.parent == STAGING_DIR || b.parent == STAGING_DIR || b.kind != Kind::File {
            return Ok(());
        }
        let old_path = self.path_in(old_root, false, a.parent, &a.name, dirs)?;
        let new_path = self.path_in(new_root, true, b.parent, &b.name, dirs)?;
        if old_path == new_path {
            out.push(Change {
                path: new_path,
                kind: ChangeKind::Modified,
            });
        } else {
            out.push(Change {
                path: old_path,
                kind: ChangeKind::Removed,
            });
            out.push(Change {
                path: new_path,
                kind: ChangeKind::Added,
            });
        }
        Ok(())
    }

    /// The path of entry `name` of directory `dir` in `root` (`side`: which
    /// tree, for the page's memory of directory paths).
    fn path_in(
        &mut self,
        root: &TreeRoot,
        side: bool,
        dir: u64,
        name: &[u8],
        dirs: &mut DirPaths,
    ) -> Result<String, FsError> {
        let name = core::str::from_utf8(name).map_err(|_| FsError::Corrupt {
            what: "entry name not UTF-8",
            ino: dir,
        })?;
        let dir_path = match dirs.known.get(&(side, dir)) {
            Some(p) => p.clone(),
            None => {
                let p = if dir == ROOT_INO {
                    String::new()
                } else {
                    self.path_of(root, dir)?
                };
                if dirs.known.len() >= DIR_PATHS_MAX {
                    dirs.known.clear();
                }
                dirs.known.insert((side, dir), p.clone());
                p
            }
        };
        Ok(alloc::format!("{dir_path}/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_through_hex_and_refuse_others() {
        let c = DiffCursor(alloc::vec![0x44, 0, 0xff, 0x0a]);
        assert_eq!(c.to_hex(), "4400ff0a");
        assert_eq!(DiffCursor::from_hex(&c.to_hex()), Some(c));
        for bad in ["", "4", "4G", "44 0", "ABCD"] {
            assert_eq!(DiffCursor::from_hex(bad), None, "{bad:?}");
        }
        let too_long = "00".repeat(MAX_KEY_LEN + 1);
        assert_eq!(DiffCursor::from_hex(&too_long), None);
        assert!(DiffCursor::from_hex(&"00".repeat(MAX_KEY_LEN)).is_some());
    }
}
