//! `ContentStore`: put and read single chunks, accounting, visiting, fsck.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{Extent, Transactional, BLOCK_SIZE};
use cowbtree::{CheckReport, TreeRoot};

use crate::chunk_ref::{ChunkRef, Hex};
use crate::chunker::MAX_CHUNK;
use crate::content_root::{ContentRoot, ContentRootDecodeError};
use crate::error::{Error, GcError, GetError, PutError};
use crate::gc::ChunkMarks;
use crate::index_entry::{blocks_for, IndexEntry};

/// Index entries per page of [`ContentStore::visit_blocks`] in-process.
pub const VISIT_PAGE: usize = 1024;

/// Space used by the store, from its counters (no I/O).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentStats {
    /// Distinct chunks stored.
    pub chunks: u64,
    /// Sum of the distinct chunks' lengths.
    pub chunk_bytes: u64,
    /// Blocks holding chunk data (each chunk rounded up to whole blocks).
    pub data_blocks: u64,
}

impl ContentStats {
    /// Bytes of the device the chunk data occupies.
    pub fn physical_data_bytes(&self) -> u64 {
        self.data_blocks.saturating_mul(BLOCK_SIZE as u64)
    }
}

/// A reusable buffer that holds one chunk, rounded up to whole blocks.
pub struct ChunkBuf {
    bytes: Vec<u8>,
}

impl Default for ChunkBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkBuf {
    /// Allocates the largest chunk's worth of blocks once.
    pub fn new() -> Self {
        ChunkBuf {
            bytes: vec![0u8; blocks_for(MAX_CHUNK) as usize * BLOCK_SIZE],
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }
}

/// The BLAKE3 content store. Holds its [`ContentRoot`] in memory; the owner
/// persists [`ContentStore::encode_root`] in the same transaction as every
/// change (the store does not write any root block itself).
///
/// On any error inside a transaction, abort it and reopen the store from the
/// root bytes of the last commit: the in-memory root may have moved.
pub struct ContentStore {
    pub(crate) root: ContentRoot,
}

impl ContentStore {
    /// Creates an empty store (an empty chunk index) in the open transaction.
    pub fn create<T: Transactional>(tx: &mut T) -> Result<Self, PutError> {
        let index = cowbtree::create(tx)?;
        Ok(ContentStore {
            root: ContentRoot {
                index,
                chunks: 0,
                chunk_bytes: 0,
                data_blocks: 0,
                epoch: 0,
                changes: 0,
            },
        })
    }

    /// Opens the store from the bytes of [`ContentStore::encode_root`].
    pub fn open(root_bytes: &[u8]) -> Result<Self, ContentRootDecodeError> {
        Ok(ContentStore {
            root: ContentRoot::decode(root_bytes)?,
        })
    }

    /// The state to persist ([`ContentRoot::ENCODED_LEN`] bytes).
    pub fn encode_root(&self) -> [u8; ContentRoot::ENCODED_LEN] {
        self.root.encode()
    }

    /// Marks the root as the answer of a request that changed a block
    /// (`ContentRoot::changes`): the content service calls it before it
    /// answers such a request, so that its cache of index nodes never takes
    /// the answered root for the one the request came with.
    pub fn note_change(&mut self) {
        self.root.changes = self.root.changes.wrapping_add(1);
    }

    pub fn root(&self) -> &ContentRoot {
        &self.root
    }

    pub fn stats(&self) -> ContentStats {
        ContentStats {
            chunks: self.root.chunks,
            chunk_bytes: self.root.chunk_bytes,
            data_blocks: self.root.data_blocks,
        }
    }

    pub(crate) fn index(&self) -> &TreeRoot {
        &self.root.index
    }

    /// The index entry of `hash`, if stored.
    pub(crate) fn lookup<T: Transactional>(
        &self,
        tx: &mut T,
        hash: &[u8; 32],
    ) -> Result<Option<IndexEntry>, GetError> {
        match cowbtree::get(tx, &self.root.index, hash)? {
            None => Ok(None),
            Some(v) => IndexEntry::decode(&v)
                .map(Some)
                .map_err(|problem| GetError::CorruptIndex {
                    hash: *hash,
                    problem,
                }),
        }
    }

    /// True when a chunk with this hash is stored.
    pub fn contains<T: Transactional>(
        &self,
        tx: &mut T,
        hash: &[u8; 32],
    ) -> Result<bool, GetError> {
        Ok(self.lookup(tx, hash)?.is_some())
    }

    /// Stores `data` as one chunk unless a chunk with the same hash is
    /// already stored (then only its GC epoch is refreshed). Data goes with
    /// `write_fresh` into a freshly allocated extent; the index entry and the
    /// counters change in the same transaction.
    pub fn put_chunk<T: Transactional>(
        &mut self,
        tx: &mut T,
        data: &[u8],
    ) -> Result<ChunkRef, PutError> {
        if data.is_empty() {
            return Err(PutError::Empty);
        }
        if data.len() > MAX_CHUNK {
            return Err(PutError::TooLarge { len: data.len() });
        }
        // blake3tcg: the blake3 crate's hash, faster under TCG (docs/speed.md).
        let hash: [u8; 32] = blake3tcg::hash(data);
        let chunk = ChunkRef {
            hash,
            len: data.len() as u32,
        };
        if let Some(v) = cowbtree::get(tx, &self.root.index, &hash)? {
            let mut entry = IndexEntry::decode(&v)
                .map_err(|problem| PutError::CorruptIndex { hash, problem })?;
            if entry.epoch < self.root.epoch {
                // Touched during a GC: the sweep of that GC must keep it.
                entry.epoch = self.root.epoch;
                cowbtree::insert(tx, &mut self.root.index, &hash, &entry.encode())?;
            }
            return Ok(chunk);
        }
        let blocks = blocks_for(data.len());
        let extent = tx.allocate(blocks)?;
        let whole = data.len() / BLOCK_SIZE * BLOCK_SIZE;
        if whole > 0 {
            tx.write_fresh(extent.start, &data[..whole])?;
        }
        if whole < data.len() {
            let mut last = [0u8; BLOCK_SIZE];
            last[..data.len() - whole].copy_from_slice(&data[whole..]);
            tx.write_fresh(extent.start + (whole / BLOCK_SIZE) as u64, &last)?;
        }
        let entry = IndexEntry {
            start: extent.start,
            len: chunk.len,
            epoch: self.root.epoch,
        };
        cowbtree::insert(tx, &mut self.root.index, &hash, &entry.encode())?;
        self.root.chunks += 1;
        self.root.chunk_bytes += u64::from(chunk.len);
        self.root.data_blocks += blocks;
        Ok(chunk)
    }

    /// Where chunk `chunk` is stored: its extent (whole blocks, the chunk's
    /// bytes first, zero-padded), for a reader that reads the blocks itself
    /// and verifies them against `chunk.hash` (the filesystem's batched
    /// read path). Checks what `read_chunk` checks before reading: present,
    /// and indexed with the length the reference names. The bytes are not
    /// read, so not verified here: the caller must hash them.
    pub fn locate<T: Transactional>(
        &self,
        tx: &mut T,
        chunk: &ChunkRef,
    ) -> Result<Extent, GetError> {
        let hash = chunk.hash;
        let entry = self.lookup(tx, &hash)?.ok_or(GetError::NotFound { hash })?;
        if entry.len != chunk.len {
            return Err(GetError::LengthMismatch {
                hash,
                indexed: entry.len,
                referenced: chunk.len,
            });
        }
        Ok(entry.extent())
    }

    /// Reads the chunk `chunk` into `buf` and verifies its BLAKE3 before
    /// returning any of its bytes.
    pub fn read_chunk<'b, T: Transactional>(
        &self,
        tx: &mut T,
        chunk: &ChunkRef,
        buf: &'b mut ChunkBuf,
    ) -> Result<&'b [u8], GetError> {
        let hash = chunk.hash;
        let entry = self.lookup(tx, &hash)?.ok_or(GetError::NotFound { hash })?;
        if entry.len != chunk.len {
            return Err(GetError::LengthMismatch {
                hash,
                indexed: entry.len,
                referenced: chunk.len,
            });
        }
        let blocks = entry.blocks() as usize;
        let area = &mut buf.bytes[..blocks * BLOCK_SIZE];
        tx.read(entry.start, area)?;
        let data = &area[..entry.len as usize];
        let computed = blake3tcg::hash(data);
        if computed != hash {
            return Err(GetError::ChunkCorrupt {
                hash,
                block: entry.start,
                computed,
            });
        }
        Ok(data)
    }

    /// Blocks of the chunk index (walks the tree): with
    /// `stats().data_blocks`, the store's whole footprint on the device.
    pub fn index_blocks<T: Transactional>(&self, tx: &mut T) -> Result<u64, GetError> {
        let mut n = 0u64;
        cowbtree::visit_node_blocks(tx, &self.root.index, |_| n += 1)?;
        Ok(n)
    }

    /// Calls `f` with every extent the store occupies: each index node (one
    /// block) and each chunk's data. For the owner's block-level GC marking
    /// and space accounting. One walk of the index, in pages of
    /// [`VISIT_PAGE`] entries (the same walk a caller in another process
    /// does page by page with [`ContentStore::visit_blocks_page`]).
    pub fn visit_blocks<T: Transactional>(
        &self,
        tx: &mut T,
        mut f: impl FnMut(Extent),
    ) -> Result<(), Error> {
        let mut after = None;
        loop {
            match self.visit_blocks_page(tx, after.as_ref(), VISIT_PAGE, &mut f)? {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// One page of [`ContentStore::visit_blocks`]: the extents of the index
    /// entries after key `after` (from the start if `None`) and of the index
    /// nodes the walk enters, at most `max_extents` of them. Returns the
    /// last key visited, the cursor for the next page, or `None` when the
    /// walk is complete.
    ///
    /// Linear: a page seeks to `after` (one path down the tree, whose
    /// nodes the earlier pages reported already: they hold `after`) and
    /// then reads each node once, so a whole walk reads every node about
    /// once plus one path per page. Pages must walk the same root (the
    /// caller's state does not change between them); a later root is a
    /// new walk.
    pub fn visit_blocks_page<T: Transactional>(
        &self,
        tx: &mut T,
        after: Option<&[u8; 32]>,
        max_extents: usize,
        mut f: impl FnMut(Extent),
    ) -> Result<Option<[u8; 32]>, Error> {
        let start = match after {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let mut cursor = cowbtree::range_recording(tx, &self.root.index, start, Bound::Unbounded)
            .map_err(GetError::from)?;
        if after.is_some() {
            // The path down to `after`: reported by the page that entered it.
            cursor.take_entered(|_| {});
        }
        // An entry brings at most one node per level with it.
        let per_entry = usize::from(self.root.index.height) + 1;
        let mut emitted = 0usize;
        let mut last = None;
        loop {
            if emitted + per_entry > max_extents.max(per_entry) {
                return Ok(last);
            }
            let next = cursor.next_entry().map_err(GetError::from)?;
            cursor.take_entered(|b| {
                f(Extent::new(b, 1));
                emitted += 1;
            });
            let Some((key, value)) = next else {
                return Ok(None);
            };
            let Ok(hash) = <[u8; 32]>::try_from(key.as_slice()) else {
                return Err(GcError::CorruptIndex {
                    key_len: key.len(),
                    problem: None,
                }
                .into());
            };
            let entry = IndexEntry::decode(&value)
                .map_err(|problem| GetError::CorruptIndex { hash, problem })?;
            f(entry.extent());
            emitted += 1;
            last = Some(hash);
        }
    }

    /// Fsck of the store: the index tree's own check, every entry's key and
    /// value, every extent allocated and not overlapping another, the
    /// counters against the entries, and with `verify_data` every chunk's
    /// BLAKE3. Problems are listed in plain words with hashes and blocks.
    pub fn check<T: Transactional>(&self, tx: &mut T, verify_data: bool) -> ContentCheckReport {
        let tree = cowbtree::check(tx, &self.root.index);
        let mut report = ContentCheckReport {
            tree,
            ..ContentCheckReport::default()
        };
        if !report.tree.is_clean() {
            return report;
        }
        // Blocks seen so far: index nodes first, then each chunk's extent,
        // so a chunk overlapping a node or another chunk is caught.
        let mut used = ChunkMarks::new(tx.block_count());
        if let Err(e) = cowbtree::visit_node_blocks(tx, &self.root.index, |b| {
            used.mark_block(b);
        }) {
            report.problem(format!("chunk index cannot be walked: {e}"));
            return report;
        }
        let mut buf = ChunkBuf::new();
        let (mut bytes, mut blocks) = (0u64, 0u64);
        // The cursor borrows the transaction, so entries are checked in
        // batches after the cursor is dropped.
        let mut resume: Option<Vec<u8>> = None;
        loop {
            let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            {
                let start = match &resume {
                    Some(k) => Bound::Excluded(k.as_slice()),
                    None => Bound::Unbounded,
                };
                let mut cursor =
                    match cowbtree::range(tx, &self.root.index, start, Bound::Unbounded) {
                        Ok(c) => c,
                        Err(e) => {
                            report.problem(format!("chunk index cannot be scanned: {e}"));
                            return report;
                        }
                    };
                while batch.len() < 256 {
                    match cursor.next_entry() {
                        Ok(Some(pair)) => batch.push(pair),
                        Ok(None) => break,
                        Err(e) => {
                            report.problem(format!("chunk index cannot be scanned: {e}"));
                            return report;
                        }
                    }
                }
            }
            let Some((last, _)) = batch.last() else { break };
            resume = Some(last.clone());
            for (key, value) in batch {
                report.chunks += 1;
                let (b, n) = self.check_entry(
                    tx,
                    (&key, &value),
                    verify_data,
                    &mut used,
                    &mut buf,
                    &mut |_, text| report.problem(text),
                );
                bytes += b;
                blocks += n;
            }
        }
        let r = &self.root;
        if (report.chunks, bytes, blocks) != (r.chunks, r.chunk_bytes, r.data_blocks) {
            report.problem(format!(
                "counters say {} chunks, {} bytes, {} blocks; the index holds {}, {}, {}",
                r.chunks, r.chunk_bytes, r.data_blocks, report.chunks, bytes, blocks
            ));
        }
        report
    }
}

impl ContentStore {
    /// One index entry's checks (its key, its value, its extent within
    /// the store, allocated and not marked already in `used`, and with
    /// `verify_data` its BLAKE3); answers its (bytes, blocks) for the
    /// counters. Problems go to `problem`, `true` for an overlap (a block
    /// marked already), which only a check of one fixed index can trust.
    pub(crate) fn check_entry<T: Transactional>(
        &self,
        tx: &mut T,
        (key, value): (&[u8], &[u8]),
        verify_data: bool,
        used: &mut ChunkMarks,
        buf: &mut ChunkBuf,
        problem: &mut dyn FnMut(bool, String),
    ) -> (u64, u64) {
        let Ok(hash) = <[u8; 32]>::try_from(key) else {
            problem(
                false,
                format!("index key of {} bytes is not a 32-byte hash", key.len()),
            );
            return (0, 0);
        };
        let entry = match IndexEntry::decode(value) {
            Ok(e) => e,
            Err(e) => {
                problem(false, format!("chunk {}: index entry: {e}", Hex(&hash)));
                return (0, 0);
            }
        };
        let counted = (u64::from(entry.len), entry.blocks());
        let extent = entry.extent();
        if extent.end() > tx.block_count() {
            problem(
                false,
                format!(
                    "chunk {}: extent {}..{} is past the end of the store ({} blocks)",
                    Hex(&hash),
                    extent.start,
                    extent.end(),
                    tx.block_count()
                ),
            );
            return counted;
        }
        for b in extent.start..extent.end() {
            if !used.mark_block(b) {
                problem(
                    true,
                    format!(
                        "chunk {}: block {b} is also used by another chunk or an index node",
                        Hex(&hash)
                    ),
                );
            }
            match tx.is_allocated(b) {
                Ok(true) => {}
                Ok(false) => problem(
                    false,
                    format!("chunk {}: block {b} is not allocated", Hex(&hash)),
                ),
                Err(e) => problem(false, format!("chunk {}: block {b}: {e:?}", Hex(&hash))),
            }
        }
        if verify_data {
            let r = ChunkRef {
                hash,
                len: entry.len,
            };
            if let Err(e) = self.read_chunk(tx, &r, buf) {
                problem(false, format!("{e}"));
            }
        }
        counted
    }
}

/// What [`ContentStore::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentCheckReport {
    /// The index tree's own check.
    pub tree: CheckReport,
    /// Index entries seen.
    pub chunks: u64,
    pub problem_count: u64,
    /// The first `cowbtree::MAX_LISTED_PROBLEMS` problems of the entries.
    pub problems: Vec<String>,
}

impl ContentCheckReport {
    pub fn is_clean(&self) -> bool {
        self.tree.is_clean() && self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < cowbtree::MAX_LISTED_PROBLEMS {
            self.problems.push(text);
        }
    }
}
