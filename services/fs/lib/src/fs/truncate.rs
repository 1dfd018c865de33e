//! Truncate: shrinking drops the extents past the new size and re-chunks
//! the one that straddles it (inline data stays inline, shorter); growing
//! stores one hole record (after turning inline data into a chunk).

use alloc::string::ToString;
use alloc::vec::Vec;

use block::Transactional;

use super::{counted, Fs};
use crate::chunks::Chunks;
use crate::error::FsError;
use crate::records::{extent_key, Extent, Kind};

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    pub fn truncate(&mut self, path: &str, size: u64) -> Result<(), FsError> {
        if let Ok(m) = self.stat(path) {
            self.check_quota(path, size.saturating_sub(m.size))?;
        }
        self.atomically(|fs| {
            let (ino, inode) = fs.resolve(path)?;
            if inode.kind != Kind::File {
                return Err(FsError::IsADirectory {
                    path: path.to_string(),
                });
            }
            fs.truncate_ino(ino, size)
        })
    }

    pub(super) fn truncate_ino(&mut self, ino: u64, size: u64) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        if size >= inode.size {
            // Growing stores one hole record, whatever the length: no
            // zeros are hashed or written.
            return self.write_parts(ino, size, &[]);
        }
        // Extents ending after `size`: drop them, keep the head of the one
        // that straddles `size`.
        let doomed = self.extents_from(ino, size, u64::MAX)?;
        let mut head = None;
        for (end, ext) in doomed {
            cowbtree::remove(&mut self.dev, &mut self.state.live, &extent_key(ino, end))?;
            let start = end - ext.len();
            if start < size {
                head = Some((start, ext));
            }
        }
        let mut new_refs = Vec::new();
        let mut start_of_new = size;
        if let Some((start, Extent::Hole(_))) = head {
            self.put_hole(ino, start, size)?;
        } else if let Some((_, Extent::Inline(ref d))) = head {
            // Still the whole of a small file: it stays inline, shorter.
            let keep = usize::try_from(size).unwrap_or(0).min(d.bytes().len());
            self.put_inline(ino, &d.bytes()[..keep])?;
        } else if let Some((start, Extent::Chunk(ext))) = head {
            let mut buf = Vec::new();
            self.read_extent(&ext, &mut buf)?;
            let keep = usize::try_from(size - start).unwrap_or(0).min(buf.len());
            let mut w = self.state.content.writer();
            self.state
                .content
                .push(&mut self.dev, &mut w, &buf[..keep], &mut new_refs)?;
            self.state.content.finish(&mut self.dev, w, &mut new_refs)?;
            start_of_new = start;
        }
        self.put_extents(ino, start_of_new, &new_refs)?;
        let now = self.now();
        let mut inode = inode;
        self.quota_file_changed(&inode, Some(inode.size), Some(size))?;
        if counted(&inode) {
            self.state.meta.logical_bytes = self
                .state
                .meta
                .logical_bytes
                .saturating_sub(inode.size - size);
        }
        inode.size = size;
        inode.mtime = now;
        inode.ctime = now;
        self.put_inode(ino, &inode)
    }
}
