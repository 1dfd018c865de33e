//! The store's check in pages ([`ContentStore::check_page`]), for an owner
//! that answers other requests, writes included, between two pages.
//!
//! A page checks the index keys from where the last one stopped: a
//! [`cowbtree::TreeCheck::from_key`] walk of at most [`CHECK_PAGE_NODES`]
//! nodes of the index as it is during that page, and each entry it meets
//! as [`ContentStore::check`] does (key, value, extent inside the store
//! and allocated, with `verify_data` the chunk's BLAKE3).
//!
//! # What a run guarantees when the index changes between pages
//! - Each page reads one index (the owner's root of that moment; nothing
//!   changes during a page), so every problem a page reports as certain
//!   is in the store: no false problem from changes between pages.
//! - The pages' key ranges follow each other without gap or overlap
//!   (the next page starts at the lower bound of the first subtree the
//!   page did not visit), so every entry present for the whole run is
//!   checked exactly once; entries put or swept meanwhile may or may not
//!   be.
//! - Whole-index comparisons need one index: the counters against the
//!   entries' sums, the pair count against the root's, and extents
//!   overlapping across pages (a chunk swept and its blocks reused by a
//!   later put would look like an overlap). They are collected as the run
//!   goes and reported by [`ContentStore::check_end`] only when the owner
//!   says the store did not change during the run; otherwise they are
//!   dropped, and said so.
//!
//! Memory: the walk's stack (one node's children per level), one page of
//! entries, and one bit per block of the store for the overlap check (as
//! [`ContentStore::check`] and a collection's marks).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use block::Transactional;
use cowbtree::{TreeCheck, Visited, MAX_LISTED_PROBLEMS};

use crate::gc::ChunkMarks;
use crate::store::{ChunkBuf, ContentStore};

/// Index nodes a page reads at most (more than `MAX_LEVEL + 1`, so that
/// every page reaches a leaf and the run moves on).
pub const CHECK_PAGE_NODES: usize = 32;

/// Problems: a count and the first [`MAX_LISTED_PROBLEMS`] texts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub count: u64,
    pub texts: Vec<String>,
}

impl Findings {
    pub fn is_clean(&self) -> bool {
        self.count == 0
    }

    pub fn push(&mut self, text: String) {
        self.count += 1;
        if self.texts.len() < MAX_LISTED_PROBLEMS {
            self.texts.push(text);
        }
    }
}

/// A check run in pages: where it is, and what it keeps for the end.
#[derive(Clone, Debug)]
pub struct PagedCheck {
    verify_data: bool,
    /// The first key of the next page (`None`: from the start).
    next: Option<Vec<u8>>,
    done: bool,
    used: ChunkMarks,
    pairs: u64,
    tree_problems: u64,
    chunks: u64,
    bytes: u64,
    blocks: u64,
    /// Problems only a fixed index makes certain (see the module comment).
    pending: Findings,
}

impl PagedCheck {
    pub fn new(block_count: u64, verify_data: bool) -> Self {
        PagedCheck {
            verify_data,
            next: None,
            done: false,
            used: ChunkMarks::new(block_count),
            pairs: 0,
            tree_problems: 0,
            chunks: 0,
            bytes: 0,
            blocks: 0,
            pending: Findings::default(),
        }
    }

    /// Whether the last page was checked.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Index entries checked so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }
}

impl ContentStore {
    /// The next page of `run` (nothing once it is done), reading at most
    /// `max_nodes` index nodes (the service's pages: [`CHECK_PAGE_NODES`];
    /// at least the index's height, so that a page reaches a leaf);
    /// answers the page's certain problems. See the module comment.
    pub fn check_page<T: Transactional>(
        &self,
        tx: &mut T,
        run: &mut PagedCheck,
        max_nodes: usize,
    ) -> Findings {
        let mut found = Findings::default();
        if run.done {
            return found;
        }
        let mut walk = TreeCheck::from_key(&self.root().index, run.next.as_deref());
        let mut nodes = Vec::new();
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let max_nodes = max_nodes.max(usize::from(self.root().index.height) + 1);
        let done = walk.step_visit(tx, max_nodes, &mut |v| match v {
            Visited::Node(b) => nodes.push(b),
            Visited::Pair(k, v) => pairs.push((k.to_vec(), v.to_vec())),
        });
        for p in &walk.report().problems {
            found.push(format!("index: {p}"));
        }
        // Problems past the listed ones still count.
        found.count += walk.report().problem_count - walk.report().problems.len() as u64;
        run.pairs += walk.report().pairs;
        for b in nodes {
            if !run.used.mark_block(b) {
                run.pending.push(format!(
                    "index node at block {b} is also used by a chunk or another node"
                ));
            }
        }
        let mut buf = ChunkBuf::new();
        for (key, value) in pairs {
            run.chunks += 1;
            let (bytes, blocks) = self.check_entry(
                tx,
                (&key, &value),
                run.verify_data,
                &mut run.used,
                &mut buf,
                &mut |overlap, text| {
                    if overlap {
                        run.pending.push(text)
                    } else {
                        found.push(text)
                    }
                },
            );
            run.bytes += bytes;
            run.blocks += blocks;
        }
        run.tree_problems += walk.report().problem_count;
        run.done = done;
        if !done {
            match walk.next_key() {
                // Sound separators always move the next page on; crafted
                // ones must not make a run that never ends.
                Some(k) if run.next.as_deref().is_none_or(|from| k > from) => {
                    run.next = Some(k.to_vec())
                }
                k => {
                    found.push(format!(
                        "index: the walk does not move past key {:02x?} (separators out of order)",
                        k.unwrap_or_default()
                    ));
                    run.done = true;
                }
            }
        }
        found
    }

    /// The end of a finished run: with `unchanged` (the owner's word that
    /// the store did not change since the first page), the whole-index
    /// comparisons; otherwise a note that they were not made.
    pub fn check_end(&self, run: &PagedCheck, unchanged: bool) -> (Findings, Option<String>) {
        if !unchanged {
            let note = format!(
                "the store changed during the check: counters and overlaps across pages \
                 not compared ({} held back)",
                run.pending.count
            );
            return (Findings::default(), Some(note));
        }
        let mut found = run.pending.clone();
        let r = self.root();
        if run.tree_problems == 0 && run.pairs != r.index.entries {
            found.push(format!(
                "index holds {} pairs but its root says {}",
                run.pairs, r.index.entries
            ));
        }
        if (run.chunks, run.bytes, run.blocks) != (r.chunks, r.chunk_bytes, r.data_blocks) {
            found.push(format!(
                "counters say {} chunks, {} bytes, {} blocks; the index holds {}, {}, {}",
                r.chunks, r.chunk_bytes, r.data_blocks, run.chunks, run.bytes, run.blocks
            ));
        }
        (found, None)
    }
}
