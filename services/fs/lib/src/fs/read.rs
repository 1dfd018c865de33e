//! Reading file data: `read_at` seeks the extent map (keyed by end
//! offset), verifies each chunk before copying any of its bytes, and
//! reads holes as zeros; whole-file reads grow as bytes arrive.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;
use cowbtree::TreeRoot;

use super::{decode_extent, Fs};
use crate::chunks::{ChunkRef, Chunks};
use crate::error::FsError;
use crate::records::{self, Extent, Kind};

/// The last chunk a reader fetched, so a sequential reader whose buffer
/// ends inside a chunk does not fetch (and verify) it twice.
#[derive(Default)]
pub(crate) struct ChunkCache {
    pub key: Option<ChunkRef>,
    pub data: Vec<u8>,
}

impl ChunkCache {
    pub fn load<T: Transactional, C: Chunks<T>>(
        &mut self,
        dev: &mut T,
        content: &mut C,
        rb: &mut C::ReadBuf,
        r: &ChunkRef,
        check: bool,
    ) -> Result<&[u8], FsError> {
        if self.key.as_ref() != Some(r) {
            self.key = None;
            content.read_chunk(dev, rb, r, &mut self.data)?;
            if check {
                crate::received::check_chunk(r, &self.data)?;
            }
            self.key = Some(*r);
        }
        Ok(&self.data)
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Reads into `buf` from `offset` of the file `ino`; returns the bytes
    /// read (0 at or past the end). Each chunk's BLAKE3 is verified before
    /// any of its bytes are copied out. A chunk that fails (corrupt or
    /// unreadable) ends the read early with the verified bytes before it;
    /// a read starting in that chunk fails with
    /// [`FsError::ChunkUnreadable`], which names the chunk's file offset.
    pub fn read_at(&mut self, ino: u64, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let root = self.state.live;
        let mut cache = ChunkCache::default();
        self.read_at_in(&root, ino, offset, buf, &mut cache)
    }

    /// `read_at` with a caller-kept chunk buffer (sequential readers reuse it).
    pub(crate) fn read_at_in(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        offset: u64,
        buf: &mut [u8],
        cache: &mut ChunkCache,
    ) -> Result<usize, FsError> {
        let inode = self.get_inode_in(root, ino)?;
        if inode.kind != Kind::File {
            return Err(FsError::Corrupt {
                what: "read of a directory inode",
                ino,
            });
        }
        if offset >= inode.size || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(inode.size - offset).unwrap_or(usize::MAX));
        let (lo, hi) = records::extent_range_after(ino, offset);
        let mut done = 0usize;
        let mut pos = offset;
        let mut extents = Vec::new();
        {
            let mut cursor = cowbtree::range(
                &mut self.dev,
                root,
                Bound::Included(&lo),
                Bound::Excluded(&hi),
            )?;
            let mut covered = offset;
            while covered < offset + want as u64 {
                let Some((k, v)) = cursor.next_entry()? else {
                    break;
                };
                let (end, ext) = decode_extent(ino, &k, &v)?;
                covered = end;
                extents.push((end, ext));
            }
        }
        for (end, ext) in extents {
            let start = end.checked_sub(ext.len()).ok_or(FsError::Corrupt {
                what: "extent starts before 0",
                ino,
            })?;
            if start > pos {
                return Err(FsError::Corrupt {
                    what: "gap in extent map",
                    ino,
                });
            }
            let r = match ext {
                Extent::Chunk(c) => c,
                Extent::Hole(_) => {
                    // A hole reads as zeros; nothing is stored to verify.
                    let n = usize::try_from(end - pos)
                        .unwrap_or(usize::MAX)
                        .min(want - done);
                    buf[done..done + n].fill(0);
                    done += n;
                    pos += n as u64;
                    if done == want {
                        break;
                    }
                    continue;
                }
            };
            let scratch = match cache.load(
                &mut *self.dev,
                &mut self.state.content,
                &mut self.read_buf,
                &r,
                self.check_chunks,
            ) {
                Ok(s) => s,
                // The verified bytes before a bad chunk are returned first
                // (a short read); the next read, which starts at this
                // chunk, fails and names it.
                Err(_) if done > 0 => return Ok(done),
                Err(e) => {
                    return Err(FsError::ChunkUnreadable {
                        ino,
                        offset: start,
                        len: r.len,
                        problem: alloc::boxed::Box::new(e),
                    })
                }
            };
            let from = usize::try_from(pos - start).unwrap_or(usize::MAX);
            let n = (want - done).min(scratch.len().saturating_sub(from));
            // Keys sort by end offset, so `from` lies inside the chunk; a
            // lying map is an error, not a slice panic.
            let piece = scratch
                .get(from..from.saturating_add(n))
                .filter(|p| !p.is_empty())
                .ok_or(FsError::Corrupt {
                    what: "extent does not cover the offset",
                    ino,
                })?;
            buf[done..done + n].copy_from_slice(piece);
            done += n;
            pos += n as u64;
            if done == want {
                break;
            }
        }
        if done < want {
            return Err(FsError::Corrupt {
                what: "extent map shorter than file size",
                ino,
            });
        }
        Ok(done)
    }

    /// Reads a whole small file (links, manifests) of at most `max` bytes.
    pub fn read_file(&mut self, path: &str, max: u64) -> Result<Vec<u8>, FsError> {
        let (ino, inode) = self.resolve(path)?;
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
        let root = self.state.live;
        self.read_whole(&root, ino, inode.size)
    }

    /// Reads a whole file, growing the buffer as bytes arrive (a size from
    /// the disk is not trusted with an allocation before the extents back it).
    pub(crate) fn read_whole(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        size: u64,
    ) -> Result<Vec<u8>, FsError> {
        const STEP: usize = 256 * 1024;
        let mut out = Vec::new();
        let mut cache = ChunkCache::default();
        let mut pos = 0u64;
        while pos < size {
            let step = usize::try_from(size - pos).unwrap_or(STEP).min(STEP);
            let at = out.len();
            out.resize(at + step, 0);
            let n = self.read_at_in(root, ino, pos, &mut out[at..], &mut cache)?;
            out.truncate(at + n);
            if n == 0 {
                break;
            }
            pos += n as u64;
        }
        Ok(out)
    }

    /// Reads the whole chunk an extent names into `buf`, verified.
    pub(super) fn read_extent(&mut self, r: &ChunkRef, buf: &mut Vec<u8>) -> Result<(), FsError> {
        self.state
            .content
            .read_chunk(&mut self.dev, &mut self.read_buf, r, buf)?;
        if self.check_chunks {
            crate::received::check_chunk(r, buf)?;
        }
        Ok(())
    }
}
