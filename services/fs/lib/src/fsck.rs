//! fsck over every structure the filesystem owns, and space statistics.
//!
//! [`Fs::fsck`] checks, for the live tree and every snapshot: the tree's own
//! invariants (`cowbtree::check`), that every dirent names an inode of the
//! same kind whose parent and name point back, that no inode or extent is
//! orphaned, that each file's extents tile `[0, size)` and name chunks the
//! content store holds; for the live tree that `logical_bytes` is the sum of
//! file sizes and that every registry link decodes (and names the digest
//! its path names); with `verify_data`, that every chunk's BLAKE3 and every
//! blob's digest verify. [`fsck_blocks`] adds the block layer's fsck with
//! every block the filesystem uses marked, so leaks and double use show.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{BlockDevice, BlockStore, Extent, FindingKind, Transactional, BLOCK_SIZE};
use content::ChunkMarks;

use crate::chunks::Chunks;
use cowbtree::TreeRoot;

use crate::digest::Verifier;
use crate::error::FsError;
use crate::fs::{ChunkCache, Fs};
use crate::layout;
use crate::link;
use crate::names::{Algorithm, Digest};
use crate::records::{self, Inode, Kind, ROOT_INO, STAGING_DIR};

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
        let mut free = 0u64;
        let count = self.dev.block_count();
        for b in self.data_start()..count {
            if !self.dev.is_allocated(b)? {
                free += 1;
            }
        }
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

    /// Checks everything above the block layer (see the module comment).
    pub fn fsck(&mut self, verify_data: bool) -> Result<FsckReport, FsError> {
        let mut report = FsckReport::default();
        let snaps = self.state.snaps;
        let table = cowbtree::check(&mut self.dev, &snaps);
        for p in table.problems {
            report.problem(format!("snapshot table: {p}"));
        }
        if let Some(problems) = self.state.content.check(&mut self.dev, verify_data)? {
            report.problem(format!("content store: {problems}"));
        }
        let mut trees: Vec<(String, TreeRoot)> = self
            .snapshot_records()?
            .into_iter()
            .map(|(n, r)| (format!("snapshot {n}"), r.root))
            .collect();
        trees.push((String::from("live tree"), self.state.live));
        for (label, root) in &trees {
            report.trees += 1;
            let check = cowbtree::check(&mut self.dev, root);
            for p in check.problems {
                report.problem(format!("{label}: {p}"));
            }
            if check.problem_count == 0 {
                let sum = self.check_namespace(label, root, &mut report)?;
                if label == "live tree" && sum != self.logical_bytes() {
                    report.problem(format!(
                        "live tree: files hold {sum} bytes, the root block says {}",
                        self.logical_bytes()
                    ));
                }
            }
        }
        let live = self.state.live;
        self.check_registry(&live, verify_data, &mut report)?;
        self.fsck_quotas(&mut report);
        Ok(report)
    }

    /// Walks one tree; returns the sum of its file sizes.
    fn check_namespace(
        &mut self,
        label: &str,
        root: &TreeRoot,
        report: &mut FsckReport,
    ) -> Result<u64, FsError> {
        let mut reached_inodes = 1u64; // the root
        let mut reached_extents = 0u64;
        let mut bytes = 0u64;
        match self.get_inode_in(root, ROOT_INO) {
            Ok(i) if i.kind == Kind::Dir => {}
            Ok(_) => report.problem(format!("{label}: root inode is not a directory")),
            Err(e) => {
                report.problem(format!("{label}: root inode: {e}"));
                return Ok(0);
            }
        }
        let mut stack = alloc::vec![ROOT_INO];
        let mut seen_dirs = alloc::collections::BTreeSet::new();
        while let Some(dir) = stack.pop() {
            if !seen_dirs.insert(dir) {
                report.problem(format!(
                    "{label}: directory {dir} is reached twice (a cycle)"
                ));
                continue;
            }
            report.dirs += 1;
            let mut after: Option<String> = None;
            loop {
                let page = self.list_ino(root, dir, after.as_deref(), 256)?;
                let Some(last) = page.last() else { break };
                after = Some(last.name.clone());
                for e in page {
                    reached_inodes += 1;
                    let inode: Inode = match self.get_inode_in(root, e.ino) {
                        Ok(i) => i,
                        Err(err) => {
                            report.problem(format!(
                                "{label}: entry {:?} in dir {dir}: {err}",
                                e.name
                            ));
                            continue;
                        }
                    };
                    if inode.kind != e.kind
                        || inode.parent != dir
                        || inode.name != e.name.as_bytes()
                    {
                        report.problem(format!(
                            "{label}: entry {:?} in dir {dir} names inode {} whose kind/parent/name are {:?}/{}/{:?}",
                            e.name,
                            e.ino,
                            inode.kind,
                            inode.parent,
                            String::from_utf8_lossy(&inode.name)
                        ));
                    }
                    match e.kind {
                        Kind::Dir => stack.push(e.ino),
                        Kind::File => {
                            report.files += 1;
                            bytes = bytes.saturating_add(inode.size);
                            reached_extents +=
                                self.check_file(label, root, e.ino, inode.size, report)?;
                        }
                    }
                }
            }
        }
        // Staging files of puts in progress (crate::put): reached through
        // the staging directory, not counted in the tree's bytes.
        let mut after: Option<String> = None;
        loop {
            let page = self.list_ino(root, STAGING_DIR, after.as_deref(), 256)?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for e in page {
                reached_inodes += 1;
                match self.get_inode_in(root, e.ino) {
                    Ok(i)
                        if i.kind == Kind::File
                            && e.kind == Kind::File
                            && i.parent == STAGING_DIR
                            && i.name == e.name.as_bytes() =>
                    {
                        reached_extents += self.check_file(label, root, e.ino, i.size, report)?;
                    }
                    Ok(_) => report.problem(format!(
                        "{label}: staging entry {:?} names inode {} that is not its staging file",
                        e.name, e.ino
                    )),
                    Err(err) => {
                        report.problem(format!("{label}: staging entry {:?}: {err}", e.name))
                    }
                }
            }
        }
        // Orphans: records not reached from the root or the staging area.
        let count = |fs: &mut Self, tag: u8| -> Result<u64, FsError> {
            let lo = [tag];
            let hi = [tag + 1];
            let mut c = cowbtree::range(
                &mut fs.dev,
                root,
                Bound::Included(&lo[..]),
                Bound::Excluded(&hi[..]),
            )?;
            let mut n = 0u64;
            while c.next_entry()?.is_some() {
                n += 1;
            }
            Ok(n)
        };
        let inodes = count(self, records::TAG_INODE)?;
        let extents = count(self, records::TAG_EXTENT)?;
        if inodes != reached_inodes {
            report.problem(format!(
                "{label}: {inodes} inodes stored, {reached_inodes} reachable"
            ));
        }
        if extents != reached_extents {
            report.problem(format!(
                "{label}: {extents} extents stored, {reached_extents} reachable"
            ));
        }
        report.extents += extents;
        Ok(bytes)
    }

    /// Checks one file's extent map; returns its extent count.
    fn check_file(
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
                        if let records::Extent::Chunk(c) = ext {
                            refs.push(c.hash);
                        }
                    }
                    Err(e) => report.problem(format!("{label}: inode {ino}: {e}")),
                }
            }
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

    /// Blobs verify against their names; links decode and match their paths.
    fn check_registry(
        &mut self,
        root: &TreeRoot,
        verify_data: bool,
        report: &mut FsckReport,
    ) -> Result<(), FsError> {
        let files: Vec<_> = match self.walk(None) {
            Ok(w) => w.into_iter().filter(|e| e.kind == Kind::File).collect(),
            Err(e) => {
                report.problem(format!("registry walk: {e}"));
                return Ok(());
            }
        };
        let blobs = alloc::format!("{}/", layout::BLOBS);
        let repos = alloc::format!("{}/", layout::REPOSITORIES);
        for f in files {
            if let Some(rest) = f.path.strip_prefix(&blobs) {
                // <alg>/<2 hex>/<hex>/data
                let parts: Vec<&str> = rest.split('/').collect();
                let digest = match parts.as_slice() {
                    [alg, pre, hex, "data"] => Algorithm::from_name(alg)
                        .and_then(|a| Digest::from_hex(a, hex).ok())
                        .filter(|d| d.hex().get(..2) == Some(*pre)),
                    _ => None,
                };
                let Some(d) = digest else {
                    report.problem(format!("{}: not a blob path", f.path));
                    continue;
                };
                if verify_data {
                    let mut v = Verifier::new(d);
                    let mut buf = alloc::vec![0u8; 256 * 1024];
                    let mut cache = ChunkCache::default();
                    let mut pos = 0u64;
                    let mut failed = false;
                    while pos < f.size {
                        match self.read_at_in(root, f.ino, pos, &mut buf, &mut cache) {
                            Ok(0) => break,
                            Ok(n) => {
                                v.update(&buf[..n]);
                                pos += n as u64;
                            }
                            Err(e) => {
                                report.problem(format!("{}: {e}", f.path));
                                failed = true;
                                break;
                            }
                        }
                    }
                    if !failed {
                        match v.finish() {
                            Ok(()) => report.blobs_verified += 1,
                            Err(m) => report.problem(format!("{}: {m}", f.path)),
                        }
                    }
                }
            } else if f.path.starts_with(&repos) && f.path.ends_with("/link") {
                report.links_checked += 1;
                let bytes = match self.read_file_in(None, &f.path, link::MAX_LINK_LEN as u64) {
                    Ok(b) => b,
                    Err(e) => {
                        report.problem(format!("{}: {e}", f.path));
                        continue;
                    }
                };
                let parts: Vec<&str> = f.path.rsplitn(4, '/').collect();
                // [link, hex, alg, ...] for digest-named links.
                let named = match parts.as_slice() {
                    ["link", hex, alg, _] => {
                        Algorithm::from_name(alg).and_then(|a| Digest::from_hex(a, hex).ok())
                    }
                    _ => None,
                };
                let r = match &named {
                    Some(d) => link::decode_expecting(&bytes, d),
                    None => link::decode(&bytes),
                };
                if let Err(e) = r {
                    report.problem(format!("{}: {e}", f.path));
                }
            }
        }
        Ok(())
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
    let mut used = ChunkMarks::new(fs.dev.block_count());
    fs.mark_blocks(&mut used)?;
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
