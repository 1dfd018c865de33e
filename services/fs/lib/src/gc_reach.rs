//! The block reach of a GC run ([`crate::gc_run`]) in bounded units: which
//! allocated blocks no root reaches, found while other requests write.
//!
//! [`Fs::reach_begin`] fixes the moment R: in one transaction it takes
//! copy-on-write snapshots (pins) of the live tree, of the snapshot table
//! and of the content index (`Chunks::pin_index`), then, in the same
//! request, copies the allocation bitmap. [`Fs::reach_unit`] then walks
//! only those pinned roots (and the roots of fsck runs' pins, also fixed),
//! reading at most `GcSteps::reach` nodes per unit:
//! 1. the trees: the snapshot table, the live tree, then fsck runs' pins
//!    (a table and a live tree each), depth first, one node per read; a
//!    table's leaf names snapshots, whose trees are walked from there
//!    (depth first too) before the table's walk goes on; a node already
//!    reached is not read again (its subtree is the same: nobody writes a
//!    pinned node);
//! 2. the content index, a page of at most N extents per unit (its nodes
//!    and the chunks its entries name), after the last key of the page
//!    before, through `Chunks::visit_blocks_page` of the pinned root.
//!
//! The doomed set is then the blocks allocated at R and not reached; see
//! `gc_run` for why it may be freed whatever others did since R.
//!
//! # Memory
//! Two bits per block (allocated at R, reached), the pinned roots (two
//! per run: none per snapshot), the pending nodes of the walk (one node's
//! worth per level of the table and of the tree below it), the pinned
//! content root.
//!
//! # The pin's one-request bitmap copy
//! The pin unit copies the allocation bitmap in the request that commits
//! the pins, so that the copy is the bitmap of R (a block allocated after
//! R must never be doomed). Its cost is one block-service call per 32,768
//! blocks (the block client's bitmap window) and one bit per block: it
//! grows with the store's size, fixed when it is formatted, and with
//! nothing a client can create. Copying it in steps would need the block
//! service to keep a frozen view of the bitmap as of R.

use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;
use content::ChunkMarks;
use cowbtree::node::Entries;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;
use crate::pins::{decode_record, Pinned};

/// Nodes read per reach unit by default.
pub const REACH_STEP: usize = 256;

/// A reach in progress over roots pinned at its moment R.
pub(crate) struct Reach {
    /// Blocks allocated at R (the data region's).
    allocated: ChunkMarks,
    /// Blocks reached from the roots of R so far.
    reached: ChunkMarks,
    /// Roots to walk: R's snapshot table and live tree, then fsck runs'
    /// pins.
    roots: Vec<Pinned>,
    /// The next root of `roots` to walk.
    next_root: usize,
    /// Nodes still to read: (block, level, of a snapshot table).
    pending: Vec<(u64, u8, bool)>,
    /// The content store's root at R, and the index height (a page's
    /// path down); `None` once its walk is done.
    content: Option<(Vec<u8>, u8)>,
    /// The content walk's cursor: the last index key visited.
    content_after: Option<[u8; 32]>,
}

/// What a finished reach leaves: the blocks to free.
pub(crate) struct Doomed {
    allocated: ChunkMarks,
    reached: ChunkMarks,
}

impl Doomed {
    /// Allocated at R and reached from none of R's roots.
    pub(crate) fn is_marked(&self, block: u64) -> bool {
        self.allocated.is_marked(block) && !self.reached.is_marked(block)
    }

    pub(crate) fn block_count(&self) -> u64 {
        self.allocated.block_count()
    }

    /// The blocks reached (the doomed set no longer needed).
    pub(crate) fn into_reached(self) -> ChunkMarks {
        self.reached
    }

    pub(crate) fn reached(&self) -> u64 {
        self.reached.count()
    }

    pub(crate) fn count(&self) -> u64 {
        (0..self.block_count())
            .filter(|b| self.is_marked(*b))
            .count() as u64
    }
}

/// Where the reach stands after a unit.
pub(crate) enum ReachStep {
    More(Reach),
    Done(Doomed),
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Fixes the reach's moment R. With `pin` the roots are pinned in one
    /// transaction (other requests may run between the units); without,
    /// the current roots are walked as they are, and nothing may change
    /// until the reach is done (the one-call GC).
    pub(crate) fn reach_begin(&mut self, pin: bool) -> Result<Reach, FsError> {
        let (live, snaps, content) = if pin {
            self.atomically(|fs| {
                let live = cowbtree::snapshot(&mut fs.state.live)?;
                let snaps = cowbtree::snapshot(&mut fs.state.snaps)?;
                Ok((live, snaps, fs.state.content.pin_index()?))
            })?
        } else {
            (
                self.state.live,
                self.state.snaps,
                self.state.content.encode_root(),
            )
        };
        let height = content::ContentStore::open(&content)
            .map_err(FsError::BadContentRoot)?
            .root()
            .index
            .height;
        let mut roots = vec![Pinned::Table(snaps), Pinned::Tree(live)];
        roots.extend(self.pinned.iter().flat_map(|(_, p)| p.iter().copied()));
        // In this same request: nothing was allocated or freed since the
        // pin's commit.
        let block_count = self.dev.block_count();
        let mut allocated = ChunkMarks::new(block_count);
        for b in self.data_start()..block_count {
            if self.dev.is_allocated(b)? {
                allocated.mark_block(b);
            }
        }
        Ok(Reach {
            allocated,
            reached: ChunkMarks::new(block_count),
            roots,
            next_root: 0,
            pending: Vec::new(),
            content: Some((content, height)),
            content_after: None,
        })
    }

    /// One unit of the reach: at most `nodes` tree nodes read, or one page
    /// of the content index of at most `nodes` extents (and its path down).
    pub(crate) fn reach_unit(&mut self, mut r: Reach, nodes: usize) -> Result<ReachStep, FsError> {
        let nodes = nodes.max(1);
        if self.walk_trees(&mut r, nodes)? {
            return Ok(ReachStep::More(r));
        }
        let Some((root, height)) = r.content.take() else {
            return Ok(ReachStep::Done(Doomed {
                allocated: r.allocated,
                reached: r.reached,
            }));
        };
        // The page reads the path down to its cursor (nodes reported by
        // the page before) and then one node per extent it reports.
        let max = nodes.saturating_sub(usize::from(height)).max(1);
        let reached = &mut r.reached;
        let next = self.state.content.visit_blocks_page(
            &mut self.dev,
            &root,
            r.content_after.as_ref(),
            max,
            &mut |e| {
                for b in e.start..e.end() {
                    reached.mark_block(b);
                }
            },
        )?;
        if let Some(after) = next {
            r.content_after = Some(after);
            r.content = Some((root, height));
        }
        Ok(ReachStep::More(r))
    }

    /// Walks the pinned trees, reading at most `nodes` nodes; `true` when
    /// it read some (the unit is used), `false` when the trees are done.
    fn walk_trees(&mut self, r: &mut Reach, nodes: usize) -> Result<bool, FsError> {
        let mut read = 0usize;
        while read < nodes {
            let Some((block, level, table)) = r.pending.pop() else {
                let Some(root) = r.roots.get(r.next_root).copied() else {
                    return Ok(read > 0);
                };
                r.next_root += 1;
                r.pending.push(match root {
                    Pinned::Tree(t) => (t.block, t.height.saturating_sub(1), false),
                    Pinned::Table(t) => (t.block, t.height.saturating_sub(1), true),
                });
                continue;
            };
            // Reached through another pinned root: the same node (pinned
            // nodes are never written), so the same subtree.
            if r.reached.is_marked(block) {
                continue;
            }
            let node = cowbtree::read_node(&mut self.dev, block, level)?;
            read += 1;
            r.reached.mark_block(block);
            match node.entries {
                Entries::Branch(children) => {
                    let below = level.checked_sub(1).ok_or(FsError::Corrupt {
                        what: "branch node at level 0",
                        ino: 0,
                    })?;
                    r.pending
                        .extend(children.iter().rev().map(|c| (c.child, below, table)));
                }
                Entries::Leaf(entries) if table => {
                    for e in entries.iter().rev() {
                        let snap = decode_record(&e.key, &e.value)?.1.root;
                        r.pending
                            .push((snap.block, snap.height.saturating_sub(1), false));
                    }
                }
                Entries::Leaf(_) => {}
            }
        }
        Ok(true)
    }
}
