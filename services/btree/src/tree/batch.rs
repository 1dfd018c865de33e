//! [`insert_batch`]: a sorted run of entries inserted with one descent per
//! leaf it touches, and each node it changes written (and so sealed) once.
//!
//! Why (issue #13): a 32 MiB put inserts one entry per chunk into the
//! fs's extent map and one into the content service's chunk index, each a
//! descent, a new image of the leaf, a write and (where the device does
//! not defer it) a seal: for a piece's entries, which land in the same
//! few leaves, the same leaf is rebuilt and sealed once per entry.
//!
//! # The same tree as single inserts
//! The result is, node for node and byte for byte (block numbers, split
//! points, generations), what [`insert`](super::insert) of each entry in
//! turn makes, so the format and the tree's shape do not depend on how a
//! caller grouped its entries. The batch *is* those inserts, run on an
//! overlay of the nodes they change ([`Overlay`]) instead of the device:
//! - Every step is a single insert's descent and its way back up (a
//!   split below patches the parent, which may split or move in turn, a
//!   split root grows the tree), with the same allocations in the same
//!   order, so the allocator hands out the same blocks.
//! - What is batched is the leaf: the entries that follow the first one
//!   and fall in the same leaf (below the separator that bounds it) go in
//!   by one merge ([`NodeView::merge_run_into`]) as long as each still
//!   fits. Inserts into a leaf that do not split it change only that leaf
//!   after the first one (it was moved, if shared, by the first change;
//!   the others rewrite it in place, which leaves the parent alone), so
//!   merging them at once changes the same nodes to the same bytes. The
//!   entry that would not fit is the next step, a single insert's split.
//! - The changed nodes' images stay in the overlay and later steps read
//!   them there; at the end each is written once
//!   ([`Transactional::write_sealing`]). Nodes the device did not vouch
//!   for are kept there verified too, so none is read and checksummed
//!   twice.
//!
//! Nothing is written on an error; the caller aborts its transaction as
//! after a failed insert (the in-memory root may have moved part-way).
//! Memory: one image per node changed, bounded by the batch's length
//! times the tree's height; callers batch a piece's entries (tens).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use block::Transactional;

use super::{
    check_key, grown_root, insert_with, patch_branch, place, split_and_store, TreeError, Written,
    MAX_VALUE_LEN,
};
use crate::node::{seal, Entries, LeafEntry, Node, NodeDecodeError, NodeView, Probe, NODE_SIZE};
use crate::root::TreeRoot;
use crate::tree::probe_node;

/// Inserts or replaces every `(key, value)` of `entries` as
/// [`insert`](super::insert) of each in turn would (a key given twice ends
/// with its last value; see the module doc: the tree is the same, node for
/// node), with one descent per leaf touched and each changed node written
/// once. Entries whose keys are not in non-decreasing order are inserted
/// one by one. Returns how many keys were new. `buf` is a buffer for node
/// images, as in [`insert_with`].
pub fn insert_batch<T: Transactional, K: AsRef<[u8]>, V: AsRef<[u8]>>(
    tx: &mut T,
    root: &mut TreeRoot,
    entries: &[(K, V)],
    buf: &mut [u8; NODE_SIZE],
) -> Result<u64, TreeError> {
    for (k, v) in entries {
        check_key(k.as_ref())?;
        if v.as_ref().len() > MAX_VALUE_LEN {
            return Err(TreeError::ValueTooLong {
                len: v.as_ref().len(),
            });
        }
    }
    if !entries
        .windows(2)
        .all(|w| w[0].0.as_ref() <= w[1].0.as_ref())
    {
        let before = root.entries;
        for (k, v) in entries {
            insert_with(tx, root, k.as_ref(), v.as_ref(), buf)?;
        }
        return Ok(root.entries - before);
    }
    let mut overlay = Overlay::default();
    let mut new_keys = 0;
    let mut done = 0;
    while done < entries.len() {
        let (taken, new) = step(tx, root, &mut overlay, &entries[done..], buf)?;
        done += taken;
        new_keys += new;
    }
    overlay.write_out(tx)?;
    root.entries = root.entries.saturating_add(new_keys);
    Ok(new_keys)
}

/// The images of the nodes a batch changed (dirty), and of nodes it read
/// that the device did not vouch for (clean, verified here once), by
/// block.
#[derive(Default)]
struct Overlay {
    nodes: BTreeMap<u64, (Box<[u8; NODE_SIZE]>, bool)>,
}

impl Overlay {
    /// Runs `f` over the image of `block`: the overlay's (verified: built
    /// or checked here), else the device's. A device's image `f` accepted
    /// that the device did not vouch for is kept (clean), as
    /// `insert_at` keeps its copy of a branch.
    fn with_node<T: Transactional, R>(
        &mut self,
        tx: &mut T,
        block: u64,
        f: impl FnOnce(&[u8], bool) -> Result<R, TreeError>,
    ) -> Result<R, TreeError> {
        if let Some((image, _)) = self.nodes.get(&block) {
            return f(&image[..], true);
        }
        let mut f = Some(f);
        let mut result = None;
        let mut keep = None;
        tx.read_verified_with(block, &mut |image, verified| {
            if let Some(f) = f.take() {
                let r = f(image, verified);
                if r.is_ok() && !verified {
                    keep = <&[u8; NODE_SIZE]>::try_from(image)
                        .ok()
                        .map(|i| Box::new(*i));
                }
                result = Some(r);
            }
        })?;
        if let Some(image) = keep {
            self.nodes.insert(block, (image, false));
        }
        // A device that lent nothing answered no node.
        result.unwrap_or(Err(TreeError::Corrupt {
            block,
            problem: NodeDecodeError::WrongSize { len: 0 },
        }))
    }

    /// `store_image` into the overlay: in place over `old` when the tree
    /// alone owns it, else at a newly allocated block (allocated now, as a
    /// single insert allocates it).
    fn store_image<T: Transactional>(
        &mut self,
        tx: &mut T,
        root: &TreeRoot,
        old: Option<(u64, u64)>,
        image: &[u8; NODE_SIZE],
    ) -> Result<u64, TreeError> {
        let block = place(tx, root, old)?;
        match self.nodes.get_mut(&block) {
            Some((kept, dirty)) => {
                kept.copy_from_slice(image);
                *dirty = true;
            }
            None => {
                self.nodes.insert(block, (Box::new(*image), true));
            }
        }
        Ok(block)
    }

    /// `store_node` into the overlay.
    fn store_node<T: Transactional>(
        &mut self,
        tx: &mut T,
        root: &TreeRoot,
        old: Option<(u64, u64)>,
        mut node: Node,
    ) -> Result<u64, TreeError> {
        node.generation = root.generation;
        self.store_image(tx, root, old, &node.encode_unsealed())
    }

    /// `store_maybe_split` into the overlay: the left half at `old`'s
    /// place, then the right half at a new block.
    fn store_maybe_split<T: Transactional>(
        &mut self,
        tx: &mut T,
        root: &TreeRoot,
        old: Option<(u64, u64)>,
        node: Node,
    ) -> Result<Written, TreeError> {
        split_and_store(root, old, node, &mut |old, n| {
            self.store_node(tx, root, old, n)
        })
    }

    /// Writes every changed node once, sealed by the device.
    fn write_out<T: Transactional>(self, tx: &mut T) -> Result<(), TreeError> {
        for (block, (mut image, dirty)) in self.nodes {
            if dirty {
                tx.write_sealing(block, &mut image, seal)?;
            }
        }
        Ok(())
    }
}

/// What the leaf of one step becomes.
enum LeafChange {
    /// `taken` entries changed nothing.
    Unchanged { taken: usize },
    /// `taken` entries merged into the caller's buffer.
    Merged { taken: usize, new_keys: u64 },
    /// The first entry does not fit: the leaf with it put in, decoded, to
    /// be split; whether its key was new.
    Split(Node, bool),
}

/// One single insert's descent for `entries[0]`, with the entries after it
/// that fall in the same leaf merged into that leaf while they fit, and
/// its way back up. Returns how many entries are in and how many of their
/// keys were new.
fn step<T: Transactional, K: AsRef<[u8]>, V: AsRef<[u8]>>(
    tx: &mut T,
    root: &mut TreeRoot,
    overlay: &mut Overlay,
    entries: &[(K, V)],
    buf: &mut [u8; NODE_SIZE],
) -> Result<(usize, u64), TreeError> {
    let key = entries[0].0.as_ref();
    let top = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    // The branches on the way down (block, generation, level), and the
    // leaf's exclusive upper bound: the nearest separator above `key`.
    let mut path: Vec<(u64, u64, u8)> = Vec::with_capacity(usize::from(top));
    let mut upper: Option<Vec<u8>> = None;
    let (mut block, mut level) = (root.block, top);
    while level > 0 {
        let (generation, child, next) = overlay.with_node(tx, block, |image, verified| {
            let probe: Probe = probe_node(block, level, image, verified, key)?;
            let child = probe.child().ok_or(TreeError::Corrupt {
                block,
                problem: NodeDecodeError::EmptyBranch,
            })?;
            Ok((
                probe.generation,
                child,
                probe.next_key().map(<[u8]>::to_vec),
            ))
        })?;
        if next.is_some() {
            upper = next;
        }
        path.push((block, generation, level));
        block = child;
        level -= 1;
    }
    let run = entries
        .iter()
        .take_while(|(k, _)| upper.as_deref().is_none_or(|u| k.as_ref() < u))
        .count()
        .max(1);
    let generation = root.generation;
    let (leaf_generation, change) = overlay.with_node(tx, block, |image, verified| {
        let corrupt = |problem| TreeError::Corrupt { block, problem };
        let view = if verified {
            NodeView::parse_verified(block, image)
        } else {
            NodeView::parse(block, image)
        }
        .map_err(corrupt)?;
        if view.level != 0 {
            return Err(TreeError::wrong_level(block, 0, view.level));
        }
        let merged = view.merge_run_into(buf, &entries[..run], generation);
        let change = match merged.taken {
            0 => {
                // `entries[0]` does not fit: the leaf is split as a single
                // insert splits it (`insert_step`, `store_maybe_split`).
                let value = entries[0].1.as_ref();
                let mut node = view.to_node();
                let below = view.count_at_or_below(key);
                let Entries::Leaf(v) = &mut node.entries else {
                    return Err(TreeError::wrong_level(block, 0, node.level));
                };
                let found = below > 0 && v[below - 1].key.as_slice() == key;
                if found {
                    v[below - 1].value = value.to_vec();
                } else {
                    v.insert(
                        below,
                        LeafEntry {
                            key: key.to_vec(),
                            value: value.to_vec(),
                        },
                    );
                }
                node.generation = generation;
                LeafChange::Split(node, !found)
            }
            taken if merged.changed => LeafChange::Merged {
                taken,
                new_keys: merged.new_keys,
            },
            taken => LeafChange::Unchanged { taken },
        };
        Ok((view.generation, change))
    })?;
    let old = Some((block, leaf_generation));
    let (taken, new_keys, mut written) = match change {
        LeafChange::Unchanged { taken } => return Ok((taken, 0)),
        LeafChange::Merged { taken, new_keys } => {
            let at = overlay.store_image(tx, root, old, buf)?;
            (
                taken,
                new_keys,
                Written {
                    block: at,
                    split: None,
                },
            )
        }
        LeafChange::Split(node, new) => (
            1,
            u64::from(new),
            overlay.store_maybe_split(tx, root, old, node)?,
        ),
    };
    // Back up: each branch changes as in `insert_at` when its child moved
    // or split; a child rewritten in place leaves everything above as is.
    let mut child = block;
    while let Some((block, generation, level)) = path.pop() {
        if written.block == child && written.split.is_none() {
            return Ok((taken, new_keys));
        }
        let w = &written;
        let patched = overlay.with_node(tx, block, |image, verified| {
            patch_branch(block, level, image, verified, key, w, root, buf)
        })?;
        let old = Some((block, generation));
        written = match patched {
            None => Written {
                block: overlay.store_image(tx, root, old, buf)?,
                split: None,
            },
            Some(node) => overlay.store_maybe_split(tx, root, old, node)?,
        };
        child = block;
    }
    root.block = written.block;
    if let Some(split) = written.split {
        let (new_root, height) = grown_root(root, top, written.block, split)?;
        root.block = overlay.store_node(tx, root, None, new_root)?;
        root.height = height;
    }
    Ok((taken, new_keys))
}
