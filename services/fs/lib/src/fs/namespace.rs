//! Namespace changes: creating files and directories, unlink, rmdir,
//! removing a subtree and rename, each one transaction.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;

use super::{components, counted, parent_and_name, Fs, DIR_MODE, FILE_MODE};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::records::{dirent_key, extent_key, inode_key, DirentValue, Inode, Kind, ROOT_INO};

/// A directory [`Fs::mkdir_all_in`] reached: its inode, and whether this
/// call created it (then it is empty: nothing needs looking up in it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirAt {
    pub ino: u64,
    pub empty: bool,
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Inserts or replaces `key` in the live tree, the changed node built
    /// in the filesystem's one node buffer; returns the previous value.
    pub(crate) fn live_insert(
        &mut self,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, FsError> {
        let (dev, live, buf) = (&mut self.dev, &mut self.state.live, &mut self.node_buf);
        Ok(cowbtree::insert_with(dev, live, key, value, buf)?)
    }

    pub(crate) fn put_inode(&mut self, ino: u64, inode: &Inode) -> Result<(), FsError> {
        self.live_insert(&inode_key(ino), &inode.encode())?;
        Ok(())
    }

    pub(crate) fn touch_dir(&mut self, ino: u64, now: u64) -> Result<(), FsError> {
        let mut d = self.get_inode(ino)?;
        d.mtime = now;
        d.ctime = now;
        self.put_inode(ino, &d)
    }

    /// Creates `name` in directory `parent`; fails if it exists.
    pub(super) fn create_in(
        &mut self,
        parent: u64,
        name: &str,
        kind: Kind,
        mode: u16,
        path: &str,
    ) -> Result<u64, FsError> {
        if self.lookup(parent, name)?.is_some() {
            return Err(FsError::AlreadyExists {
                path: path.to_string(),
            });
        }
        self.create_missing_in(parent, name, kind, mode)
    }

    /// [`Fs::create_in`] of a name the caller has just seen missing from
    /// `parent` in this transaction (no second lookup).
    fn create_missing_in(
        &mut self,
        parent: u64,
        name: &str,
        kind: Kind,
        mode: u16,
    ) -> Result<u64, FsError> {
        let now = self.now();
        let ino = self.alloc_ino();
        let inode = Inode {
            kind,
            mode,
            parent,
            size: 0,
            mtime: now,
            ctime: now,
            name: name.as_bytes().to_vec(),
        };
        self.put_inode(ino, &inode)?;
        let d = DirentValue { ino, kind };
        self.insert_dirent(parent, name, &d)?;
        self.touch_dir(parent, now)?;
        if kind == Kind::File {
            self.quota_file_changed(&inode, None, Some(0))?;
        }
        Ok(ino)
    }

    pub(super) fn parent_dir(&mut self, path: &str) -> Result<(u64, String), FsError> {
        let (parent, name) = parent_and_name(path)?;
        let (pino, p) = self.resolve(&parent)?;
        if p.kind != Kind::Dir {
            return Err(FsError::NotADirectory { path: parent });
        }
        Ok((pino, name.to_string()))
    }

    /// Creates an empty file; `AlreadyExists` if anything is at `path`.
    pub fn create(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            fs.create_in(pino, &name, Kind::File, FILE_MODE, path)
        })
    }

    pub fn mkdir(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            fs.create_in(pino, &name, Kind::Dir, DIR_MODE, path)
        })
    }

    /// Creates `path` and every missing parent directory; fine if it exists
    /// as a directory.
    pub fn mkdir_all(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let comps = components(path)?;
            Ok(fs.mkdir_all_in(ROOT_INO, &comps, path)?.ino)
        })
    }

    /// The directory `comps` (validated by `components`) below directory
    /// `base`, each missing one created; `path` names it in errors. Inside
    /// a transaction. One lookup per component, none below a directory
    /// created here (it is empty): a caller that walked a shared prefix
    /// once passes its inode as `base`.
    pub(crate) fn mkdir_all_in(
        &mut self,
        base: u64,
        comps: &[&str],
        path: &str,
    ) -> Result<DirAt, FsError> {
        let mut at = DirAt {
            ino: base,
            empty: false,
        };
        for c in comps {
            let found = if at.empty {
                None
            } else {
                self.lookup(at.ino, c)?
            };
            at.ino = match found {
                Some(d) if d.kind == Kind::Dir => d.ino,
                Some(_) => {
                    return Err(FsError::NotADirectory {
                        path: path.to_string(),
                    })
                }
                None => {
                    at.empty = true;
                    self.create_missing_in(at.ino, c, Kind::Dir, DIR_MODE)?
                }
            };
        }
        Ok(at)
    }

    /// Removes a file and its extents (its chunks become garbage for GC).
    pub(crate) fn remove_file_ino(&mut self, ino: u64) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        self.quota_file_changed(&inode, Some(inode.size), None)?;
        let extents = self.extents_from(ino, 0, u64::MAX)?;
        for (end, _) in extents {
            cowbtree::remove(&mut self.dev, &mut self.state.live, &extent_key(ino, end))?;
        }
        cowbtree::remove(&mut self.dev, &mut self.state.live, &inode_key(ino))?;
        if counted(&inode) {
            self.state.meta.logical_bytes =
                self.state.meta.logical_bytes.saturating_sub(inode.size);
        }
        Ok(())
    }

    pub(super) fn dir_is_empty(&mut self, ino: u64) -> Result<bool, FsError> {
        let root = self.state.live;
        Ok(self.list_ino(&root, ino, None, 1)?.is_empty())
    }

    /// The parent directory, name and entry of `path`; `NotFound` if
    /// there is none.
    fn existing(&mut self, path: &str) -> Result<(u64, String, DirentValue), FsError> {
        let (pino, name) = self.parent_dir(path)?;
        let d = self.lookup(pino, &name)?.ok_or_else(|| FsError::NotFound {
            path: path.to_string(),
        })?;
        Ok((pino, name, d))
    }

    /// Enters `d` in directory `pino` as `name`.
    pub(crate) fn insert_dirent(
        &mut self,
        pino: u64,
        name: &str,
        d: &DirentValue,
    ) -> Result<(), FsError> {
        let key = dirent_key(pino, name.as_bytes());
        self.dirs.forget(&key);
        self.live_insert(&key, &d.encode())?;
        Ok(())
    }

    /// Removes entry `name` from directory `pino`.
    pub(crate) fn remove_dirent(&mut self, pino: u64, name: &str) -> Result<(), FsError> {
        let key = dirent_key(pino, name.as_bytes());
        self.dirs.forget(&key);
        cowbtree::remove(&mut self.dev, &mut self.state.live, &key)?;
        Ok(())
    }

    /// Removes entry `name` from directory `pino` and stamps the
    /// directory's times.
    fn drop_dirent(&mut self, pino: u64, name: &str) -> Result<(), FsError> {
        self.remove_dirent(pino, name)?;
        let now = self.now();
        self.touch_dir(pino, now)
    }

    /// Deletes the file at `path`.
    pub fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (pino, name, d) = fs.existing(path)?;
            if d.kind != Kind::File {
                return Err(FsError::IsADirectory {
                    path: path.to_string(),
                });
            }
            fs.remove_file_ino(d.ino)?;
            fs.drop_dirent(pino, &name)
        })
    }

    /// Removes the empty directory at `path`.
    pub fn rmdir(&mut self, path: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (pino, name, d) = fs.existing(path)?;
            if d.kind != Kind::Dir {
                return Err(FsError::NotADirectory {
                    path: path.to_string(),
                });
            }
            if !fs.dir_is_empty(d.ino)? {
                return Err(FsError::DirectoryNotEmpty {
                    path: path.to_string(),
                });
            }
            cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(d.ino))?;
            fs.drop_dirent(pino, &name)
        })
    }

    /// Removes `path` and everything below it; `Ok(false)` if it did not
    /// exist. One transaction: meant for small subtrees (a tag, an upload).
    pub fn remove_all(&mut self, path: &str) -> Result<bool, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            let Some(d) = fs.lookup(pino, &name)? else {
                return Ok(false);
            };
            // Depth-first with an explicit stack of directories still to empty.
            let mut stack = vec![(pino, name.clone(), d)];
            // Each step removes a record or expands a directory once; more
            // steps than twice the tree's entries means a directory cycle.
            let mut budget = fs.state.live.entries.saturating_mul(2).saturating_add(2);
            while let Some((parent, n, e)) = stack.pop() {
                budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                    what: "directory cycle",
                    ino: e.ino,
                })?;
                if e.kind == Kind::Dir {
                    let root = fs.state.live;
                    let children = fs.list_ino(&root, e.ino, None, 64)?;
                    if !children.is_empty() {
                        stack.push((parent, n, e));
                        for c in children {
                            stack.push((
                                e.ino,
                                c.name,
                                DirentValue {
                                    ino: c.ino,
                                    kind: c.kind,
                                },
                            ));
                        }
                        continue;
                    }
                    cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(e.ino))?;
                } else {
                    fs.remove_file_ino(e.ino)?;
                }
                fs.remove_dirent(parent, &n)?;
            }
            let now = fs.now();
            fs.touch_dir(pino, now)?;
            Ok(true)
        })
    }

    /// Moves `from` to `to` atomically. An existing file at `to` is replaced
    /// (as is an empty directory by a directory); a directory cannot move
    /// into itself.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (fp, fname) = fs.parent_dir(from)?;
            let (tp, tname) = fs.parent_dir(to)?;
            let src = fs.lookup(fp, &fname)?.ok_or_else(|| FsError::NotFound {
                path: from.to_string(),
            })?;
            if fp == tp && fname == tname {
                return Ok(());
            }
            if src.kind == Kind::Dir {
                // Walk up from the destination's parent: meeting `src` means
                // the move would cut the directory loose from the root.
                let mut at = tp;
                // A parent chain longer than the tree has entries loops.
                let mut budget = fs.state.live.entries;
                loop {
                    budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                        what: "parent chain loops",
                        ino: at,
                    })?;
                    if at == src.ino {
                        return Err(FsError::InvalidRename {
                            from: from.to_string(),
                            to: to.to_string(),
                        });
                    }
                    if at == ROOT_INO {
                        break;
                    }
                    at = fs.get_inode(at)?.parent;
                }
            }
            if let Some(old) = fs.lookup(tp, &tname)? {
                match (src.kind, old.kind) {
                    (Kind::File, Kind::File) => fs.remove_file_ino(old.ino)?,
                    (Kind::Dir, Kind::Dir) => {
                        if !fs.dir_is_empty(old.ino)? {
                            return Err(FsError::DirectoryNotEmpty {
                                path: to.to_string(),
                            });
                        }
                        cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(old.ino))?;
                    }
                    (Kind::File, Kind::Dir) => {
                        return Err(FsError::IsADirectory {
                            path: to.to_string(),
                        })
                    }
                    (Kind::Dir, Kind::File) => {
                        return Err(FsError::NotADirectory {
                            path: to.to_string(),
                        })
                    }
                }
            }
            let moved = fs.get_inode(src.ino)?;
            if src.kind == Kind::File {
                fs.quota_file_changed(&moved, Some(moved.size), None)?;
            }
            fs.remove_dirent(fp, &fname)?;
            fs.insert_dirent(tp, &tname, &src)?;
            let now = fs.now();
            let mut inode = moved;
            inode.parent = tp;
            inode.name = tname.as_bytes().to_vec();
            inode.ctime = now;
            fs.put_inode(src.ino, &inode)?;
            fs.touch_dir(fp, now)?;
            if tp != fp {
                fs.touch_dir(tp, now)?;
            }
            if src.kind == Kind::File {
                fs.quota_file_changed(&inode, None, Some(inode.size))?;
            } else {
                let (f, t) = (components(from)?, components(to)?);
                if fs.quota_move_matters(&f, &t)? {
                    fs.quota_recount_after_move(&f, &t)?;
                }
            }
            Ok(())
        })
    }
}
