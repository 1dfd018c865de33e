//! Tree operations: create, get, insert, remove, snapshot, visit.
//!
//! Every function runs inside a transaction the caller opened; on an error
//! the caller aborts the transaction and goes back to the `TreeRoot` it had
//! before `begin` (the in-memory root may have been advanced part-way).
//!
//! # Copy-on-write rule
//! A node whose generation is at or below `root.snapshot_generation` may be
//! shared with a snapshot: it is never written again; a changed copy goes to
//! a freshly allocated block and the parent is updated (which may copy the
//! parent in turn). A newer node belongs to this tree alone and is rewritten
//! in place with a journaled write. Nodes this tree alone owns that become
//! unreachable (merges, root collapse) are freed at once; shared nodes left
//! behind by copies are reclaimed by garbage collection (see
//! [`visit_node_blocks`]).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use block::{Extent, Transactional, BLOCK_SIZE};

use crate::node::{
    seal, BranchEntry, Entries, LeafEntry, Node, NodeDecodeError, NodeView, Probe, CAPACITY,
    MAX_KEY_LEN, MAX_LEVEL, MAX_VALUE_LEN, NODE_SIZE,
};
use crate::root::TreeRoot;

mod batch;
mod removal;

pub use batch::insert_batch;
pub use removal::remove;

const _: () = assert!(NODE_SIZE == BLOCK_SIZE);

/// A node smaller than this after a removal is merged with (or refilled
/// from) a sibling.
const UNDERFULL: usize = CAPACITY / 4;

/// Errors of tree operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// The block layer failed.
    Block(block::Error),
    /// A node failed verification.
    Corrupt {
        block: u64,
        problem: NodeDecodeError,
    },
    /// A node is not at the level its parent (or the root's height) implies.
    WrongLevel {
        block: u64,
        expected: u8,
        found: u8,
    },
    KeyTooLong {
        len: usize,
    },
    ValueTooLong {
        len: usize,
    },
    /// The tree would grow beyond `MAX_LEVEL + 1` levels.
    TooDeep {
        height: u8,
    },
    /// The root's generation counter is exhausted.
    GenerationOverflow,
}

impl From<block::Error> for TreeError {
    fn from(e: block::Error) -> Self {
        TreeError::Block(e)
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block(e) => write!(f, "block layer: {e:?}"),
            Self::Corrupt { block, problem } => {
                write!(f, "tree node at block {block} is corrupt: {problem}")
            }
            Self::WrongLevel {
                block,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tree node at block {block} has level {found}, expected {expected}"
                )
            }
            Self::KeyTooLong { len } => write!(f, "key of {len} bytes exceeds {MAX_KEY_LEN}"),
            Self::ValueTooLong { len } => write!(f, "value of {len} bytes exceeds {MAX_VALUE_LEN}"),
            Self::TooDeep { height } => write!(
                f,
                "tree would grow to height {height}, limit {}",
                MAX_LEVEL + 1
            ),
            Self::GenerationOverflow => write!(f, "tree generation counter exhausted"),
        }
    }
}

impl TreeError {
    /// The node at `block` claims level `found` where `expected` was due.
    fn wrong_level(block: u64, expected: u8, found: u8) -> Self {
        TreeError::WrongLevel {
            block,
            expected,
            found,
        }
    }
}

/// Reads and verifies the node at `block`, which must be at `level`: one
/// node of a walk its owner does in bounded steps (a walk of a snapshot's
/// nodes, which nobody writes, may be spread over many transactions).
pub fn read_node<T: Transactional>(tx: &mut T, block: u64, level: u8) -> Result<Node, TreeError> {
    // Decoded where the device lends the image (a node cache's own: no
    // 4 KiB copy into a buffer first).
    let mut decoded = Err(NodeDecodeError::WrongSize { len: 0 });
    tx.read_verified_with(block, &mut |image, verified| {
        decoded = if verified {
            NodeView::parse_verified(block, image).map(|v| v.to_node())
        } else {
            Node::decode(block, image)
        };
    })?;
    let node = decoded.map_err(|problem| TreeError::Corrupt { block, problem })?;
    if node.level != level {
        return Err(TreeError::wrong_level(block, level, node.level));
    }
    Ok(node)
}

/// Reads the node at `block` (which must be at `level`) into `buf` and
/// verifies it in place.
pub(crate) fn read_view<'b, T: Transactional>(
    tx: &mut T,
    block: u64,
    level: u8,
    buf: &'b mut [u8],
) -> Result<NodeView<'b>, TreeError> {
    let view = if tx.read_verified(block, buf)? {
        NodeView::parse_verified(block, buf)
    } else {
        NodeView::parse(block, buf)
    }
    .map_err(|problem| TreeError::Corrupt { block, problem })?;
    if view.level != level {
        return Err(TreeError::wrong_level(block, level, view.level));
    }
    Ok(view)
}

/// Looks `key` up in the `image` of the node at `block` (which must be at
/// `level`): an image the device did not report `verified` is verified in
/// full first (checksum, key order, zero tail: [`NodeView::parse`]), then
/// one scan finds the key's place without an index of the entries
/// ([`Probe::verified`]).
pub(crate) fn probe_node<'b>(
    block: u64,
    level: u8,
    image: &'b [u8],
    verified: bool,
    key: &[u8],
) -> Result<Probe<'b>, TreeError> {
    let corrupt = |problem| TreeError::Corrupt { block, problem };
    if !verified {
        NodeView::parse(block, image).map_err(corrupt)?;
    }
    let probe = Probe::verified(block, image, key).map_err(corrupt)?;
    if probe.level != level {
        return Err(TreeError::wrong_level(block, level, probe.level));
    }
    Ok(probe)
}

/// Index of the child of a branch whose key range holds `key`.
pub(crate) fn child_index(entries: &[BranchEntry], key: &[u8]) -> usize {
    // entries[0].key is empty, so at least one separator is <= key.
    entries
        .partition_point(|e| e.key.as_slice() <= key)
        .saturating_sub(1)
}

fn check_key(key: &[u8]) -> Result<(), TreeError> {
    if key.len() > MAX_KEY_LEN {
        return Err(TreeError::KeyTooLong { len: key.len() });
    }
    Ok(())
}

/// Creates an empty tree (one empty leaf) inside the open transaction.
pub fn create<T: Transactional>(tx: &mut T) -> Result<TreeRoot, TreeError> {
    let extent = tx.allocate(1)?;
    let mut image = Node::empty_leaf(1).encode_unsealed();
    tx.write_sealing(extent.start, &mut image, seal)?;
    Ok(TreeRoot {
        block: extent.start,
        height: 1,
        generation: 1,
        snapshot_generation: 0,
        entries: 0,
    })
}

/// Takes a snapshot: returns a root that keeps reading the tree's current
/// contents, O(1) and without I/O. Both `root` and the returned copy move to
/// a new generation, so from now on neither changes a node in place that the
/// other can see; either may be written. Store the returned root durably
/// (with the live one) in the same transaction as later changes.
pub fn snapshot(root: &mut TreeRoot) -> Result<TreeRoot, TreeError> {
    let next = root
        .generation
        .checked_add(1)
        .ok_or(TreeError::GenerationOverflow)?;
    root.snapshot_generation = root.generation;
    root.generation = next;
    Ok(*root)
}

/// The value stored under `key`, if any.
pub fn get<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    key: &[u8],
) -> Result<Option<Vec<u8>>, TreeError> {
    check_key(key)?;
    let mut block = root.block;
    let mut level = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    loop {
        // Each node is lent by the device (a node cache lends its image:
        // no 4 KiB copy per level) and verified as `read_view` does.
        let mut step = None;
        tx.read_verified_with(block, &mut |image, verified| {
            step = Some(get_step(block, level, image, verified, key));
        })?;
        // A device that lent nothing answered no node.
        match step.unwrap_or(Err(TreeError::Corrupt {
            block,
            problem: NodeDecodeError::WrongSize { len: 0 },
        }))? {
            GetStep::Child(child) => {
                block = child;
                level -= 1;
            }
            GetStep::Found(value) => return Ok(value),
        }
    }
}

/// Where one level of [`get`] leads.
enum GetStep {
    Child(u64),
    Found(Option<Vec<u8>>),
}

/// One level of [`get`] over the lent `image` of `block` (checked as
/// `read_view` checks a node read into a buffer). A verified image is
/// probed without an index of its entries ([`Probe`]); one that is not is
/// verified in full and searched as before.
fn get_step(
    block: u64,
    level: u8,
    image: &[u8],
    verified: bool,
    key: &[u8],
) -> Result<GetStep, TreeError> {
    let corrupt = |problem| TreeError::Corrupt { block, problem };
    if verified {
        let probe = probe_node(block, level, image, true, key)?;
        if probe.is_leaf() {
            return Ok(GetStep::Found(probe.found().map(<[u8]>::to_vec)));
        }
        return probe
            .child()
            .map(GetStep::Child)
            .ok_or(corrupt(NodeDecodeError::EmptyBranch));
    }
    let view = NodeView::parse(block, image).map_err(corrupt)?;
    if view.level != level {
        return Err(TreeError::wrong_level(block, level, view.level));
    }
    let below = view.count_at_or_below(key);
    if view.is_leaf() {
        return Ok(GetStep::Found(match below.checked_sub(1) {
            Some(i) if view.key(i) == key => Some(view.value(i).to_vec()),
            _ => None,
        }));
    }
    Ok(GetStep::Child(view.child(below.saturating_sub(1))))
}

/// Writes `node` for the tree: in place over `old` when the tree alone owns
/// it, else to a new block. Returns the block the node now lives at.
fn store_node<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    old: Option<(u64, u64)>,
    mut node: Node,
) -> Result<u64, TreeError> {
    node.generation = root.generation;
    store_image(tx, root, old, &mut node.encode_unsealed())
}

/// [`store_node`] of an image built from a view (`NodeView::leaf_with`,
/// `branch_with_child`) or encoded unsealed, already stamped with the
/// root's generation. Sealed by the device when the image leaves for the
/// disk ([`Transactional::write_sealing`]): a node rewritten several times
/// in one transaction is sealed once.
fn store_image<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    old: Option<(u64, u64)>,
    image: &mut [u8; NODE_SIZE],
) -> Result<u64, TreeError> {
    let block = place(tx, root, old)?;
    tx.write_sealing(block, image, seal)?;
    Ok(block)
}

/// Where a changed node replacing `old` (block, generation) goes: over it
/// when the tree alone owns it, else to a newly allocated block.
fn place<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    old: Option<(u64, u64)>,
) -> Result<u64, TreeError> {
    Ok(match old {
        Some((block, generation)) if generation > root.snapshot_generation => block,
        _ => tx.allocate(1)?.start,
    })
}

/// Frees `block` if the tree alone owns it (a shared node is left for GC).
fn release_node<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    block: u64,
    generation: u64,
) -> Result<(), TreeError> {
    if generation > root.snapshot_generation {
        tx.free(Extent::new(block, 1))?;
    }
    Ok(())
}

/// Splits an overfull node's entries into two halves of about equal bytes.
/// Returns the right half and its separator key.
fn split_entries(entries: &mut Entries) -> (Vec<u8>, Entries) {
    fn split_point(sizes: impl Iterator<Item = usize>, total: usize, len: usize) -> usize {
        let mut acc = 0;
        for (i, s) in sizes.enumerate() {
            acc += s;
            if acc * 2 >= total {
                return (i + 1).clamp(1, len.saturating_sub(1).max(1));
            }
        }
        len / 2
    }
    match entries {
        Entries::Leaf(v) => {
            let total = v.iter().map(crate::node::leaf_entry_size).sum();
            let m = split_point(v.iter().map(crate::node::leaf_entry_size), total, v.len());
            let right = v.split_off(m);
            let sep = right.first().map(|e| e.key.clone()).unwrap_or_default();
            (sep, Entries::Leaf(right))
        }
        Entries::Branch(v) => {
            let total = v.iter().map(crate::node::branch_entry_size).sum();
            let m = split_point(v.iter().map(crate::node::branch_entry_size), total, v.len());
            let mut right = v.split_off(m);
            let sep = right
                .first_mut()
                .map(|e| core::mem::take(&mut e.key))
                .unwrap_or_default();
            (sep, Entries::Branch(right))
        }
    }
}

/// The result of writing a changed node: where it is now, and the separator
/// and block of a new right sibling if it had to split.
struct Written {
    block: u64,
    split: Option<(Vec<u8>, u64)>,
}

/// Stores `node` (replacing `old`), splitting it in two if it overflows.
fn store_maybe_split<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    old: Option<(u64, u64)>,
    node: Node,
) -> Result<Written, TreeError> {
    split_and_store(root, old, node, &mut |old, n| store_node(tx, root, old, n))
}

/// [`store_maybe_split`] through `store` (a `store_node`): the node, or
/// its left half at `old`'s place first and then its right half at a new
/// block (the order of the allocations, which batched inserts keep).
fn split_and_store(
    root: &TreeRoot,
    old: Option<(u64, u64)>,
    mut node: Node,
    store: &mut dyn FnMut(Option<(u64, u64)>, Node) -> Result<u64, TreeError>,
) -> Result<Written, TreeError> {
    if node.fits() {
        return Ok(Written {
            block: store(old, node)?,
            split: None,
        });
    }
    let (sep, right_entries) = split_entries(&mut node.entries);
    let right = Node {
        generation: root.generation,
        level: node.level,
        entries: right_entries,
    };
    let left_block = store(old, node)?;
    let right_block = store(None, right)?;
    Ok(Written {
        block: left_block,
        split: Some((sep, right_block)),
    })
}

/// The new root over a root (at level `top`) that split into `left` and
/// `right` at `sep`, and the tree's height with it.
fn grown_root(
    root: &TreeRoot,
    top: u8,
    left: u64,
    (sep, right): (Vec<u8>, u64),
) -> Result<(Node, u8), TreeError> {
    let height = root.height.saturating_add(1);
    if height > MAX_LEVEL + 1 {
        return Err(TreeError::TooDeep { height });
    }
    let node = Node {
        generation: root.generation,
        level: top + 1,
        entries: Entries::Branch(vec![
            BranchEntry {
                key: Vec::new(),
                child: left,
            },
            BranchEntry {
                key: sep,
                child: right,
            },
        ]),
    };
    Ok((node, height))
}

/// Inserts or replaces `key`; returns the previous value.
pub fn insert<T: Transactional>(
    tx: &mut T,
    root: &mut TreeRoot,
    key: &[u8],
    value: &[u8],
) -> Result<Option<Vec<u8>>, TreeError> {
    insert_with(tx, root, key, value, &mut [0u8; NODE_SIZE])
}

/// [`insert`] building the changed node's image in `buf`, whose contents
/// do not matter (every byte of an image is written): a caller that
/// inserts often keeps one buffer instead of zeroing a new 4 KiB one per
/// insert (a small put makes ~16 inserts; a fill of 4 KiB costs about as
/// much as the probes of a walk under QEMU's TCG, issue #13).
pub fn insert_with<T: Transactional>(
    tx: &mut T,
    root: &mut TreeRoot,
    key: &[u8],
    value: &[u8],
    buf: &mut [u8; NODE_SIZE],
) -> Result<Option<Vec<u8>>, TreeError> {
    check_key(key)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(TreeError::ValueTooLong { len: value.len() });
    }
    let top = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    // `buf` is the one buffer a changed node's image is built in, whatever
    // the tree's height (the nodes on the way down are lent, not copied).
    let (written, old_value) = insert_at(tx, root, root.block, top, key, value, buf)?;
    if let Some(w) = written {
        root.block = w.block;
        if let Some(split) = w.split {
            let (new_root, height) = grown_root(root, top, w.block, split)?;
            root.block = store_node(tx, root, None, new_root)?;
            root.height = height;
        }
    }
    if old_value.is_none() {
        root.entries = root.entries.saturating_add(1);
    }
    Ok(old_value)
}

/// What one level of [`insert_at`] makes of a node's image while the
/// device lends it.
enum InsertStep {
    /// The leaf holds `key` = `value` already: nothing changes.
    Unchanged,
    /// The leaf's new image is in the caller's buffer; the value it
    /// replaced, if any.
    Spliced(Option<Vec<u8>>),
    /// The leaf with the entry put in, decoded: it does not fit one node.
    Decoded(Node, Option<Vec<u8>>),
    /// A branch: the child whose subtree holds the key, and a copy of the image when the device did not vouch for it (a
    /// device that keeps no verified nodes), so it is not read and
    /// checksummed a second time if the branch changes.
    Descend { child: u64, copy: Option<Vec<u8>> },
}

/// Inserts into the subtree at `block`. `None` for the first result means
/// the subtree did not change. `out` is a buffer for a changed node's
/// image: its contents on entry do not matter.
///
/// Each node on the way down is probed where the device lends it
/// ([`Transactional::read_verified_with`]: a node cache's own image), not
/// copied into a buffer of its own; only the node that changes is written
/// out, into `out`. In the steady state only the leaf changes (its parent
/// is rewritten in place), so a branch is read once. When it does change
/// (a split below, or a copy-on-write move of the child), it is lent again
/// (a hit of a caching device; its copy for a device that vouches for
/// nothing).
fn insert_at<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    block: u64,
    level: u8,
    key: &[u8],
    value: &[u8],
    out: &mut [u8; NODE_SIZE],
) -> Result<(Option<Written>, Option<Vec<u8>>), TreeError> {
    let mut step = None;
    tx.read_verified_with(block, &mut |image, verified| {
        step = Some(insert_step(
            block, level, image, verified, key, value, root, out,
        ));
    })?;
    // A device that lent nothing answered no node.
    let (generation, step) = step.unwrap_or(Err(TreeError::Corrupt {
        block,
        problem: NodeDecodeError::WrongSize { len: 0 },
    }))?;
    let old = Some((block, generation));
    let (child, copy) = match step {
        InsertStep::Unchanged => return Ok((None, Some(value.to_vec()))),
        InsertStep::Spliced(old_value) => {
            let block = store_image(tx, root, old, out)?;
            return Ok((Some(Written { block, split: None }), old_value));
        }
        InsertStep::Decoded(node, old_value) => {
            return Ok((Some(store_maybe_split(tx, root, old, node)?), old_value));
        }
        InsertStep::Descend { child, copy } => (child, copy),
    };
    let (written, old_value) = insert_at(tx, root, child, level - 1, key, value, out)?;
    let Some(w) = written else {
        return Ok((None, old_value));
    };
    if w.block == child && w.split.is_none() {
        // The child was rewritten in place: this node is unchanged.
        return Ok((Some(Written { block, split: None }), old_value));
    }
    // This branch changes: patched from its image again.
    let mut patched = None;
    let mut patch = |image: &[u8], verified: bool| {
        patched = Some(patch_branch(
            block, level, image, verified, key, &w, root, out,
        ));
    };
    match &copy {
        Some(image) => patch(image, true),
        None => tx.read_verified_with(block, &mut patch)?,
    }
    let node = patched.unwrap_or(Err(TreeError::Corrupt {
        block,
        problem: NodeDecodeError::WrongSize { len: 0 },
    }))?;
    let written = match node {
        None => Written {
            block: store_image(tx, root, old, out)?,
            split: None,
        },
        Some(node) => store_maybe_split(tx, root, old, node)?,
    };
    Ok((Some(written), old_value))
}

/// One level of [`insert_at`] over the lent `image` of `block`: the node's
/// generation and what to do. A leaf's new image goes into `out`.
#[allow(clippy::too_many_arguments)]
fn insert_step(
    block: u64,
    level: u8,
    image: &[u8],
    verified: bool,
    key: &[u8],
    value: &[u8],
    root: &TreeRoot,
    out: &mut [u8; NODE_SIZE],
) -> Result<(u64, InsertStep), TreeError> {
    let probe = probe_node(block, level, image, verified, key)?;
    let generation = probe.generation;
    if !probe.is_leaf() {
        let child = probe.child().ok_or(TreeError::Corrupt {
            block,
            problem: NodeDecodeError::EmptyBranch,
        })?;
        let copy = (!verified).then(|| image.to_vec());
        return Ok((generation, InsertStep::Descend { child, copy }));
    }
    let found = probe.found();
    if found == Some(value) {
        return Ok((generation, InsertStep::Unchanged));
    }
    let old_value = found.map(<[u8]>::to_vec);
    // The common case, without decoding the leaf: the entry spliced into
    // the caller's buffer.
    if probe.leaf_with_into(out, key, value, root.generation) {
        return Ok((generation, InsertStep::Spliced(old_value)));
    }
    // The image is verified by now: decoded only where the node splits.
    let mut node = NodeView::parse_verified(block, image)
        .map(|v| v.to_node())
        .map_err(|problem| TreeError::Corrupt { block, problem })?;
    let below = probe.below();
    let Entries::Leaf(v) = &mut node.entries else {
        return Err(TreeError::wrong_level(block, level, node.level));
    };
    match found {
        // The probe and the decode read the same verified entries:
        // `below` is within them, and at least 1 when found.
        Some(_) => v[below.saturating_sub(1)].value = value.to_vec(),
        None => v.insert(
            below,
            LeafEntry {
                key: key.to_vec(),
                value: value.to_vec(),
            },
        ),
    }
    node.generation = root.generation;
    Ok((generation, InsertStep::Decoded(node, old_value)))
}

/// The branch at `block` (lent `image`) with the child whose subtree holds
/// `key` now at `w.block`: patched into `out` (`None`) when only the pointer moves,
/// else decoded with the new right sibling of a split child entered.
#[allow(clippy::too_many_arguments)]
fn patch_branch(
    block: u64,
    level: u8,
    image: &[u8],
    verified: bool,
    key: &[u8],
    w: &Written,
    root: &TreeRoot,
    out: &mut [u8; NODE_SIZE],
) -> Result<Option<Node>, TreeError> {
    let probe = probe_node(block, level, image, verified, key)?;
    let Some((sep, right)) = &w.split else {
        // Only the child pointer moves: patched in a copy of the image.
        probe.branch_with_child_into(out, w.block, root.generation);
        return Ok(None);
    };
    let mut node = NodeView::parse_verified(block, image)
        .map(|v| v.to_node())
        .map_err(|problem| TreeError::Corrupt { block, problem })?;
    let Entries::Branch(v) = &mut node.entries else {
        return Err(TreeError::wrong_level(block, level, node.level));
    };
    // The probe and the decode read the same verified entries, at least
    // one (the probe found a child): `i` is within them.
    let i = probe.below().saturating_sub(1);
    let Some(entry) = v.get_mut(i) else {
        return Err(TreeError::Corrupt {
            block,
            problem: NodeDecodeError::EmptyBranch,
        });
    };
    entry.child = w.block;
    v.insert(
        i + 1,
        BranchEntry {
            key: sep.clone(),
            child: *right,
        },
    );
    node.generation = root.generation;
    Ok(Some(node))
}

/// Calls `f` with the block of every node of the tree (for GC marking and
/// space accounting). Memory: one node per level plus the pending children.
pub fn visit_node_blocks<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    mut f: impl FnMut(u64),
) -> Result<(), TreeError> {
    let top = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    let mut pending: Vec<(u64, u8)> = vec![(root.block, top)];
    while let Some((block, level)) = pending.pop() {
        let node = read_node(tx, block, level)?;
        f(block);
        if let Entries::Branch(v) = node.entries {
            pending.extend(v.iter().rev().map(|e| (e.child, level - 1)));
        }
    }
    Ok(())
}
