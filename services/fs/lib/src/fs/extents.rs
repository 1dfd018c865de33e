//! The extent map of a file: records keyed by (inode, end offset), each
//! a chunk or a hole; ranging over them, inserting chunks and holes, and
//! decoding (checked) what the tree holds.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;

use super::Fs;
use crate::chunks::{ChunkRef, Chunks};
use crate::error::FsError;
use crate::node_cache::NodeCache;
use crate::records::{self, extent_key, Extent, InlineData};

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// A cursor over the live tree's keys from `lo` up to (not including)
    /// `hi`: an extent map, or a part of one.
    pub(crate) fn live_range(
        &mut self,
        lo: &[u8],
        hi: &[u8],
    ) -> Result<cowbtree::Cursor<'_, NodeCache<T>>, FsError> {
        Ok(cowbtree::range(
            &mut self.dev,
            &self.state.live,
            Bound::Included(lo),
            Bound::Excluded(hi),
        )?)
    }

    /// Extents of `ino` that end after `from` and start before `to`, in order.
    pub(super) fn extents_from(
        &mut self,
        ino: u64,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Extent)>, FsError> {
        let (lo, hi) = records::extent_range_after(ino, from);
        let mut cursor = self.live_range(&lo, &hi)?;
        let mut out = Vec::new();
        while let Some((k, v)) = cursor.next_entry()? {
            let (end, ext) = decode_extent(ino, &k, &v)?;
            let start = end.checked_sub(ext.len()).ok_or(FsError::Corrupt {
                what: "extent starts before 0",
                ino,
            })?;
            if start >= to {
                break;
            }
            out.push((end, ext));
        }
        Ok(out)
    }

    /// Records chunks `refs` as the extents of `ino` from offset `at` on;
    /// returns the offset after the last.
    ///
    /// Their keys (the inode, then each extent's end offset) grow, so they
    /// go in as one batch ([`cowbtree::insert_batch`]): a piece's extents
    /// land in the same leaf or two, which is then rebuilt and written
    /// once, not once per chunk (issue #13). The tree is the one an
    /// insert per chunk makes.
    pub(crate) fn put_extents(
        &mut self,
        ino: u64,
        mut at: u64,
        refs: &[ChunkRef],
    ) -> Result<u64, FsError> {
        let mut entries = Vec::with_capacity(refs.len());
        for r in refs {
            at = at
                .checked_add(u64::from(r.len))
                .ok_or(FsError::FileTooLarge {
                    path: String::new(),
                    size: at,
                    max: u64::MAX,
                })?;
            entries.push((extent_key(ino, at), r.encode()));
        }
        let (dev, live, buf) = (&mut self.dev, &mut self.state.live, &mut self.node_buf);
        cowbtree::insert_batch(dev, live, &entries, buf)?;
        Ok(at)
    }

    /// Records `data` (1..=INLINE_MAX bytes) as the only extent of file
    /// `ino`, whose extent map is empty: inline data ([`records`]).
    pub(crate) fn put_inline(&mut self, ino: u64, data: &[u8]) -> Result<(), FsError> {
        let d = InlineData::new(data).ok_or(FsError::Corrupt {
            what: "inline data of 0 or more than INLINE_MAX bytes",
            ino,
        })?;
        self.live_insert(
            &extent_key(ino, data.len() as u64),
            &Extent::Inline(d).encode(),
        )?;
        Ok(())
    }

    /// Records `[from, to)` of file `ino` as a hole (nothing if empty).
    pub(super) fn put_hole(&mut self, ino: u64, from: u64, to: u64) -> Result<(), FsError> {
        if to > from {
            self.live_insert(&extent_key(ino, to), &Extent::Hole(to - from).encode())?;
        }
        Ok(())
    }
}

pub(crate) fn decode_extent(ino: u64, k: &[u8], v: &[u8]) -> Result<(u64, Extent), FsError> {
    match records::parse_key(k) {
        Ok(records::Key::Extent { ino: i, end }) if i == ino => {
            let ext = Extent::decode(v).map_err(|e| FsError::BadRecord { ino, problem: e })?;
            if ext.is_empty() || ext.len() > end {
                return Err(FsError::Corrupt {
                    what: "extent length 0 or past offset 0",
                    ino,
                });
            }
            if matches!(ext, Extent::Inline(_)) && ext.len() != end {
                return Err(FsError::Corrupt {
                    what: "inline extent does not start at offset 0",
                    ino,
                });
            }
            Ok((end, ext))
        }
        _ => Err(FsError::Corrupt {
            what: "foreign key in extent range",
            ino,
        }),
    }
}
