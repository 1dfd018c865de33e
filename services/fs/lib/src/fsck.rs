//! fsck over every structure the filesystem owns, and space statistics.
//!
//! [`Fs::fsck`] checks, for the live tree and every snapshot: the tree's own
//! invariants (`cowbtree::check`), that every dirent names an inode of the
//! same kind whose parent and name point back, that no inode or extent is
//! orphaned, that each file's extents tile `[0, size)` (inline data as its
//! only extent) and name chunks the
//! content store holds; for the live tree that `logical_bytes` is the sum of
//! file sizes and that every registry link decodes (and names the digest
//! its path names); with `verify_data`, that every chunk's BLAKE3 and every
//! blob's digest verify. The checks run as steps of a resumable run
//! (`fsck_run`), which a service drives a bounded step at a time.
//! [`fsck_blocks`] adds the block layer's fsck with
//! every block the filesystem uses marked, so leaks and double use show.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{BlockDevice, BlockStore, Extent, FindingKind, Transactional, BLOCK_SIZE};

use crate::chunks::Chunks;
use cowbtree::TreeRoot;

use crate::error::FsError;
use crate::fs::Fs;
use crate::records;

/// Problems listed at most; the count keeps going.
pub const MAX_LISTED: usize = 100;

/// What fsck found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    pub trees: u64,
    pub dirs: u64,
    pub files: u64,
    pub extents: u64,
    pub blobs_verified: u64,
    pub links_checked: u64,
    pub problem_count: u64,
    pub problems: Vec<String>,
    /// Allocated blocks no structure uses: copy-on-write leftovers and
    /// freed data waiting for GC (filled by [`fsck_blocks`]). Not a problem.
    pub garbage_blocks: u64,
    /// What the check could not do and why (not problems): a stepped
    /// run's content totals when the store changed during it.
    pub notes: Vec<String>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }
    pub(crate) fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }
}

/// Space figures for `df`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpaceStats {
    /// Sum of the live tree's file sizes.
    pub logical_bytes: u64,
    /// Distinct chunk bytes stored (live, snapshots and garbage not yet
    /// collected).
    pub chunk_bytes: u64,
    /// Device bytes holding chunk data (chunks rounded up to blocks).
    pub physical_bytes: u64,
    pub chunks: u64,
    /// logical / chunk bytes (1.0 when empty).
    pub dedup_ratio: f64,
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Space statistics. Free space is counted from the allocator.
    pub fn stats(&mut self) -> Result<SpaceStats, FsError> {
        let c = self.state.content.stats();
        let count = self.dev.block_count();
        let free = match self.dev.free_blocks()? {
            Some(free) => free,
            None => {
                let mut free = 0u64;
                for b in self.data_start()..count {
                    if !self.dev.is_allocated(b)? {
                        free += 1;
                    }
                }
                free
            }
        };
        let logical = self.logical_bytes();
        Ok(SpaceStats {
            logical_bytes: logical,
            chunk_bytes: c.chunk_bytes,
            physical_bytes: c.physical_data_bytes(),
            chunks: c.chunks,
            dedup_ratio: if c.chunk_bytes == 0 {
                1.0
            } else {
                logical as f64 / c.chunk_bytes as f64
            },
            free_bytes: free * BLOCK_SIZE as u64,
            total_bytes: count * BLOCK_SIZE as u64,
        })
    }

    /// Checks everything above the block layer (see the module comment),
    /// in one call: nothing may change until it returns. The same checks
    /// in bounded steps that changes may interleave with: `fsck_run`.
    pub fn fsck(&mut self, verify_data: bool) -> Result<FsckReport, FsError> {
        let mut run = self.fsck_start(verify_data, false)?;
        while !self.fsck_step(&mut run, usize::MAX)? {}
        Ok(self.fsck_finish(run))
    }

    /// Checks one file's extent map; returns its extent count.
    pub(crate) fn check_file(
        &mut self,
        label: &str,
        root: &TreeRoot,
        ino: u64,
        size: u64,
        report: &mut FsckReport,
    ) -> Result<u64, FsError> {
        let (lo, hi) = records::extent_range_after(ino, 0);
        let mut expect = 0u64;
        let mut n = 0u64;
        let mut inline = false;
        let mut refs = Vec::new();
        {
            let mut c = cowbtree::range(
                &mut self.dev,
                root,
                Bound::Included(&lo[..]),
                Bound::Excluded(&hi[..]),
            )?;
            while let Some((k, v)) = c.next_entry()? {
                n += 1;
                match crate::fs::decode_extent(ino, &k, &v) {
                    Ok((end, ext)) => {
                        let start = end - ext.len();
                        if start != expect {
                            report.problem(format!(
                                "{label}: inode {ino} extent at {start}, expected {expect}"
                            ));
                        }
                        expect = end;
                        match ext {
                            records::Extent::Chunk(c) => refs.push(c.hash),
                            records::Extent::Inline(_) => inline = true,
                            records::Extent::Hole(_) => {}
                        }
                    }
                    Err(e) => report.problem(format!("{label}: inode {ino}: {e}")),
                }
            }
        }
        if inline && n != 1 {
            report.problem(format!(
                "{label}: inode {ino} has inline data and {} other extents (inline data must be a file's only extent)",
                n - 1
            ));
        }
        if expect != size {
            report.problem(format!(
                "{label}: inode {ino} extents cover {expect} bytes, size is {size}"
            ));
        }
        for h in refs {
            if !self.state.content.contains(&mut self.dev, &h)? {
                report.problem(format!(
                    "{label}: inode {ino} names chunk {} that the content store does not hold",
                    content::Hex(&h)
                ));
            }
        }
        Ok(n)
    }
}

/// The filesystem's fsck plus the block layer's, with every block the
/// filesystem uses marked: blocks used twice or marked free are problems;
/// allocated blocks nobody uses are counted in `garbage_blocks` (they wait
/// for GC; right after a GC there are none).
pub fn fsck_blocks<D: BlockDevice>(
    fs: &mut Fs<BlockStore<D>>,
    verify_data: bool,
) -> Result<FsckReport, FsError> {
    let mut report = fs.fsck(verify_data)?;
    let used = fs.mark_blocks()?;
    let mut check = fs.dev.fsck()?;
    let start = fs.data_start();
    for b in start..used.block_count() {
        if used.is_marked(b) {
            check.mark_used(Extent::new(b, 1), "the filesystem");
        }
    }
    let findings = check.finish();
    for f in findings.findings() {
        // Leaks are counted below as garbage, not reported as problems.
        if f.kind != FindingKind::Leaked {
            report.problem(format!("block layer: {}", f.message));
        }
    }
    for b in start..used.block_count() {
        if !used.is_marked(b) && fs.dev.is_allocated(b)? {
            report.garbage_blocks += 1;
        }
    }
    Ok(report)
}
