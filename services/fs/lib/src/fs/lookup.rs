//! Lookups (no transaction needed): inodes, directory entries, path
//! resolution, `stat` and paged directory listings, in the live tree or
//! any snapshot root.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::TreeRoot;

use super::{components, DirEntry, Fs, Metadata};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::records::{self, dirent_key, inode_key, DirentValue, Inode, Kind, ROOT_INO};

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    pub(crate) fn get_inode_in(&mut self, root: &TreeRoot, ino: u64) -> Result<Inode, FsError> {
        let v = cowbtree::get(&mut self.dev, root, &inode_key(ino))?.ok_or(FsError::Corrupt {
            what: "inode missing",
            ino,
        })?;
        Inode::decode(&v).map_err(|e| FsError::BadRecord { ino, problem: e })
    }

    pub(crate) fn lookup_in(
        &mut self,
        root: &TreeRoot,
        parent: u64,
        name: &str,
    ) -> Result<Option<DirentValue>, FsError> {
        self.lookup_key(root, parent, &dirent_key(parent, name.as_bytes()))
    }

    /// [`Fs::lookup_in`] of the entry under `key` (`dirent_key(parent, _)`).
    fn lookup_key(
        &mut self,
        root: &TreeRoot,
        parent: u64,
        key: &[u8],
    ) -> Result<Option<DirentValue>, FsError> {
        match cowbtree::get(&mut self.dev, root, key)? {
            Some(v) => Ok(Some(DirentValue::decode(&v).map_err(|e| {
                FsError::BadRecord {
                    ino: parent,
                    problem: e,
                }
            })?)),
            None => Ok(None),
        }
    }

    /// The inode number and inode at `path` in the tree `root`.
    pub(crate) fn resolve_in(
        &mut self,
        root: &TreeRoot,
        path: &str,
    ) -> Result<(u64, Inode), FsError> {
        let comps = components(path)?;
        let mut ino = ROOT_INO;
        let mut inode = self.get_inode_in(root, ino)?;
        for c in comps {
            if inode.kind != Kind::Dir {
                return Err(FsError::NotADirectory {
                    path: path.to_string(),
                });
            }
            let d = self
                .lookup_in(root, ino, c)?
                .ok_or_else(|| FsError::NotFound {
                    path: path.to_string(),
                })?;
            ino = d.ino;
            inode = self.get_inode_in(root, ino)?;
        }
        Ok((ino, inode))
    }

    pub(super) fn resolve(&mut self, path: &str) -> Result<(u64, Inode), FsError> {
        let root = self.state.live;
        self.resolve_in(&root, path)
    }

    pub(crate) fn get_inode(&mut self, ino: u64) -> Result<Inode, FsError> {
        let root = self.state.live;
        self.get_inode_in(&root, ino)
    }

    /// Entry `name` of directory `parent` in the live tree; a directory
    /// found once is answered from [`super::dir_cache`] after.
    pub(crate) fn lookup(
        &mut self,
        parent: u64,
        name: &str,
    ) -> Result<Option<DirentValue>, FsError> {
        let key = dirent_key(parent, name.as_bytes());
        if let Some(ino) = self.dirs.get(&key) {
            return Ok(Some(DirentValue {
                ino,
                kind: Kind::Dir,
            }));
        }
        let root = self.state.live;
        let found = self.lookup_key(&root, parent, &key)?;
        if let Some(d) = found.filter(|d| d.kind == Kind::Dir) {
            self.dirs.keep(key, d.ino);
        }
        Ok(found)
    }

    /// Metadata of `path`, or `NotFound`.
    pub fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        let (ino, i) = self.resolve(path)?;
        Ok(Metadata::new(ino, &i))
    }

    pub fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        match self.resolve(path) {
            Ok(_) => Ok(true),
            Err(FsError::NotFound { .. }) | Err(FsError::NotADirectory { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Entries of the directory `path` whose names sort after `after`, at
    /// most `limit` of them: call again with the last name to continue.
    pub fn list(
        &mut self,
        path: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let root = self.state.live;
        self.list_in(&root, path, after, limit)
    }

    pub(crate) fn list_in(
        &mut self,
        root: &TreeRoot,
        path: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let (ino, inode) = self.resolve_in(root, path)?;
        if inode.kind != Kind::Dir {
            return Err(FsError::NotADirectory {
                path: path.to_string(),
            });
        }
        self.list_ino(root, ino, after, limit)
    }

    pub(crate) fn list_ino(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let (lo, hi) = records::dirent_range(ino);
        let start_key;
        let start = match after {
            Some(name) => {
                start_key = dirent_key(ino, name.as_bytes());
                Bound::Excluded(start_key.as_slice())
            }
            None => Bound::Included(lo.as_slice()),
        };
        let mut cursor = cowbtree::range(&mut self.dev, root, start, Bound::Excluded(&hi))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((k, v)) = cursor.next_entry()? else {
                break;
            };
            let name = match records::parse_key(&k) {
                Ok(records::Key::Dirent { name, .. }) => name,
                _ => {
                    return Err(FsError::Corrupt {
                        what: "non-dirent key in dirent range",
                        ino,
                    })
                }
            };
            let d = DirentValue::decode(&v).map_err(|e| FsError::BadRecord { ino, problem: e })?;
            let name = core::str::from_utf8(name).map_err(|_| FsError::Corrupt {
                what: "directory entry name not UTF-8",
                ino,
            })?;
            out.push(DirEntry {
                name: name.to_string(),
                ino: d.ino,
                kind: d.kind,
            });
        }
        Ok(out)
    }
}
