//! Writing file data: `write_at`, `append`, `write_file` and the write
//! primitive they share, which re-chunks only the chunks a write touches
//! and stores a gap as a hole.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::Transactional;

use super::namespace::DirAt;
use super::{components, counted, parent_and_name, Fs, FILE_MODE};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::records::{extent_key, DirentValue, Extent, Inode, Kind, INLINE_MAX, ROOT_INO};

/// Bytes written at a file offset (zeros are never written: a gap
/// becomes a hole record, see [`records`]).
pub(crate) enum Part<'a> {
    Bytes(&'a [u8]),
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Writes `data` at `offset` of file `ino` (zero-filling any gap past
    /// the end). The chunks the write touches are rewritten whole.
    pub fn write_at(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), FsError> {
        let end = offset.saturating_add(data.len() as u64);
        self.check_quota_ino(ino, end)?;
        self.atomically(|fs| fs.write_parts(ino, offset, &[Part::Bytes(data)]))
    }

    /// Appends `data` to file `ino`; returns the new size.
    pub fn append(&mut self, ino: u64, data: &[u8]) -> Result<u64, FsError> {
        let size = self.get_inode(ino)?.size;
        self.check_quota_ino(ino, size.saturating_add(data.len() as u64))?;
        self.atomically(|fs| {
            let size = fs.get_inode(ino)?.size;
            fs.write_parts(ino, size, &[Part::Bytes(data)])?;
            Ok(size + data.len() as u64)
        })
    }

    /// Replaces the contents of `path` with `data`, creating the file (and
    /// its parents) if needed: one transaction, old or new contents.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<u64, FsError> {
        if !self.in_txn() {
            let old = match self.stat(path) {
                Ok(m) if !m.is_dir() => m.size,
                _ => 0,
            };
            self.check_quota(path, (data.len() as u64).saturating_sub(old))?;
        }
        self.atomically(|fs| {
            let (parent, name) = parent_and_name(path)?;
            let dir = fs.mkdir_all_in(ROOT_INO, &components(&parent)?, &parent)?;
            fs.write_file_in(dir, name, data, path)
        })
    }

    /// [`Fs::write_file`] of `name` in the directory `dir` (which `path`
    /// names with `name`), inside a transaction: the caller walked the
    /// path once. A new file is made with its contents in one go: its
    /// extents, then its inode once, at its size.
    pub(crate) fn write_file_in(
        &mut self,
        dir: DirAt,
        name: &str,
        data: &[u8],
        path: &str,
    ) -> Result<u64, FsError> {
        let found = if dir.empty {
            None
        } else {
            self.lookup(dir.ino, name)?
        };
        match found {
            Some(d) if d.kind == Kind::File => {
                self.truncate_ino(d.ino, 0)?;
                self.write_parts(d.ino, 0, &[Part::Bytes(data)])?;
                Ok(d.ino)
            }
            Some(_) => Err(FsError::IsADirectory {
                path: path.to_string(),
            }),
            None => self.create_file_in(dir.ino, name, data, path),
        }
    }

    /// Creates file `name` (missing: the caller looked) in directory
    /// `parent` holding `data`. What `create_in` then `write_parts` did,
    /// with the same checks: the quota refused before any chunk is
    /// written, and charged (a second line) in this transaction.
    pub(crate) fn create_file_in(
        &mut self,
        parent: u64,
        name: &str,
        data: &[u8],
        path: &str,
    ) -> Result<u64, FsError> {
        let size = data.len() as u64;
        self.check_quota(path, size)?;
        let now = self.now();
        let ino = self.alloc_ino();
        if data.len() <= INLINE_MAX && !data.is_empty() {
            self.put_inline(ino, data)?;
        } else if !data.is_empty() {
            let mut refs = Vec::new();
            let mut w = self.state.content.writer();
            self.state
                .content
                .push(&mut self.dev, &mut w, data, &mut refs)?;
            self.state.content.finish(&mut self.dev, w, &mut refs)?;
            self.put_extents(ino, 0, &refs)?;
        }
        let inode = Inode {
            kind: Kind::File,
            mode: FILE_MODE,
            parent,
            size,
            mtime: now,
            ctime: now,
            name: name.as_bytes().to_vec(),
        };
        self.put_inode(ino, &inode)?;
        let d = DirentValue {
            ino,
            kind: Kind::File,
        };
        self.insert_dirent(parent, name, &d)?;
        self.touch_dir(parent, now)?;
        self.quota_file_changed(&inode, None, Some(size))?;
        if counted(&inode) {
            self.state.meta.logical_bytes = self.state.meta.logical_bytes.saturating_add(size);
        }
        Ok(ino)
    }

    /// The write primitive: `parts` land at `offset` of file `ino`; a gap
    /// between the end of file and `offset` becomes a hole.
    pub(crate) fn write_parts(
        &mut self,
        ino: u64,
        offset: u64,
        parts: &[Part<'_>],
    ) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        if inode.kind != Kind::File {
            return Err(FsError::Corrupt {
                what: "write to a directory inode",
                ino,
            });
        }
        let mut len: u64 = 0;
        for p in parts {
            len = len.saturating_add(match p {
                Part::Bytes(b) => b.len() as u64,
            });
        }
        if len == 0 && offset <= inode.size {
            return Ok(());
        }
        let end = offset.checked_add(len).ok_or(FsError::FileTooLarge {
            path: String::new(),
            size: offset,
            max: u64::MAX,
        })?;
        // Refused before any chunk is written (the caller checked the
        // same already when it could; this holds for every path here).
        self.check_quota_ino(ino, end)?;
        // Region rewritten: from the start of the chunk holding
        // min(offset, size) to the end of the chunk holding `end`.
        let write_from = offset.min(inode.size);
        // An append re-chunks the file's last chunk too: it was cut by the
        // end of the file, not by the content, and chunking it again with
        // the new bytes gives exactly the chunks a one-shot write would
        // (content-defined cuts depend only on the bytes since the chunk's
        // start). So a blob dedups the same whatever pieces it came in.
        let scan_from = if offset >= inode.size && inode.size > 0 {
            inode.size - 1
        } else {
            write_from
        };
        let old = self.extents_from(ino, scan_from, end)?;
        let mut head: Option<(u64, &Extent)> = None;
        let mut tail: Option<(u64, &Extent)> = None;
        if let Some(&(e_end, ref ext)) = old.first() {
            let start = e_end - ext.len();
            if start < write_from {
                head = Some((start, ext));
            }
        }
        if let Some(&(e_end, ref ext)) = old.last() {
            if e_end > end {
                tail = Some((e_end, ext));
            }
        }
        for (e_end, _) in &old {
            cowbtree::remove(
                &mut self.dev,
                &mut self.state.live,
                &extent_key(ino, *e_end),
            )?;
        }
        if inode.size == 0 && offset == 0 && old.is_empty() && len <= INLINE_MAX as u64 {
            // The whole of a small file in one go: its bytes inline in
            // its one extent record, no chunk ([`records`]).
            let mut data = Vec::with_capacity(len as usize);
            for p in parts {
                match p {
                    Part::Bytes(b) => data.extend_from_slice(b),
                }
            }
            self.put_inline(ino, &data)?;
            return self.set_written_size(ino, inode, end);
        }
        // `at`: where the chunks being cut into `refs` start.
        let mut at = write_from;
        let mut refs = Vec::new();
        let mut w = self.state.content.writer();
        let mut buf = Vec::new();
        // Where a hole before the new bytes starts (a head hole's kept
        // part, and/or the gap past the end of file).
        let mut hole_from = None;
        match head {
            Some((start, Extent::Hole(_))) => hole_from = Some(start),
            Some((start, ext)) => {
                // A chunk, or inline data: both become chunks here.
                self.stored_bytes(ext, &mut buf)?;
                let keep = usize::try_from(write_from - start)
                    .unwrap_or(0)
                    .min(buf.len());
                self.state
                    .content
                    .push(&mut self.dev, &mut w, &buf[..keep], &mut refs)?;
                at = start;
            }
            None => {}
        }
        if offset > inode.size && hole_from.is_none() {
            if head.is_some() {
                // The head chunk is cut at the old end of file, as it was.
                self.state.content.finish(&mut self.dev, w, &mut refs)?;
                self.put_extents(ino, at, &refs)?;
                refs.clear();
                w = self.state.content.writer();
            }
            hole_from = Some(inode.size);
        }
        if let Some(h) = hole_from {
            let to = offset.max(write_from);
            self.put_hole(ino, h, to)?;
            at = to;
        }
        for p in parts {
            match p {
                Part::Bytes(b) => self
                    .state
                    .content
                    .push(&mut self.dev, &mut w, b, &mut refs)?,
            }
        }
        let mut tail_hole = None;
        match tail {
            Some((e_end, Extent::Hole(_))) => tail_hole = Some(e_end),
            Some((e_end, ext)) => {
                self.stored_bytes(ext, &mut buf)?;
                let start = e_end - ext.len();
                let from = usize::try_from(end - start)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                self.state
                    .content
                    .push(&mut self.dev, &mut w, &buf[from..], &mut refs)?;
            }
            None => {}
        }
        self.state.content.finish(&mut self.dev, w, &mut refs)?;
        self.put_extents(ino, at, &refs)?;
        if let Some(e_end) = tail_hole {
            self.put_hole(ino, end, e_end)?;
        }
        self.set_written_size(ino, inode, end)
    }

    /// The bytes of a chunk or inline extent into `buf` (a chunk verified).
    pub(super) fn stored_bytes(&mut self, ext: &Extent, buf: &mut Vec<u8>) -> Result<(), FsError> {
        match ext {
            Extent::Chunk(r) => self.read_extent(r, buf),
            Extent::Inline(d) => {
                buf.clear();
                buf.extend_from_slice(d.bytes());
                Ok(())
            }
            Extent::Hole(_) => Err(FsError::Corrupt {
                what: "a hole has no stored bytes",
                ino: 0,
            }),
        }
    }

    /// A write to `end` done: the file's size, quota, byte count and times.
    fn set_written_size(&mut self, ino: u64, mut inode: Inode, end: u64) -> Result<(), FsError> {
        let new_size = inode.size.max(end);
        self.quota_file_changed(&inode, Some(inode.size), Some(new_size))?;
        if counted(&inode) {
            self.state.meta.logical_bytes = self
                .state
                .meta
                .logical_bytes
                .saturating_add(new_size - inode.size);
        }
        let now = self.now();
        inode.size = new_size;
        inode.mtime = now;
        inode.ctime = now;
        self.put_inode(ino, &inode)
    }
}
