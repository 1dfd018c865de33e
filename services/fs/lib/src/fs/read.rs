//! Reading file data into a buffer: `read_at` (over [`Fs::read_to`], in
//! `stage.rs`: the extent map sought by end offset, each chunk verified
//! before any of its bytes are copied, holes read as zeros); whole-file
//! reads grow as bytes arrive.

use alloc::string::ToString;
use alloc::vec::Vec;

use block::Transactional;
use cowbtree::TreeRoot;

use super::stage::ReadFail;
use super::Fs;
use crate::chunks::{ChunkRef, Chunks};
use crate::error::FsError;
use crate::records::Kind;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Reads into `buf` from `offset` of the file `ino`; returns the bytes
    /// read (0 at or past the end). Each chunk's BLAKE3 is verified before
    /// any of its bytes are copied out. A chunk that fails (corrupt or
    /// unreadable) ends the read early with the verified bytes before it;
    /// a read starting in that chunk fails with
    /// [`FsError::ChunkUnreadable`], which names the chunk's file offset.
    pub fn read_at(&mut self, ino: u64, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let root = self.state.live;
        self.read_at_in(&root, ino, offset, buf)
    }

    /// `read_at` in tree `root` (`read_to_in` copying into `buf`).
    pub(crate) fn read_at_in(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, FsError> {
        let max = buf.len() as u64;
        let mut filled = 0usize;
        let mut copy = |bytes: &[u8]| -> Result<(), core::convert::Infallible> {
            buf[filled..filled + bytes.len()].copy_from_slice(bytes);
            filled += bytes.len();
            Ok(())
        };
        match self.read_to_in(root, ino, offset, max, &mut copy) {
            Ok(n) => Ok(n as usize),
            Err(ReadFail::Fs(e)) => Err(e),
            Err(ReadFail::Sink(never)) => match never {},
        }
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
        let mut pos = 0u64;
        while pos < size {
            let step = usize::try_from(size - pos).unwrap_or(STEP).min(STEP);
            let at = out.len();
            out.resize(at + step, 0);
            let n = self.read_at_in(root, ino, pos, &mut out[at..])?;
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
