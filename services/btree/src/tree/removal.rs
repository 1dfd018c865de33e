//! Removal: [`remove`] and the merging or refilling of underfull nodes
//! with a sibling on the way back up (the copy-on-write rule of the parent
//! module applies to every node written or freed here).

use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;

use super::{
    check_key, read_node, read_view, release_node, split_entries, store_node, TreeError, UNDERFULL,
};
use crate::node::{BranchEntry, Entries, Node, NODE_SIZE};
use crate::root::TreeRoot;

/// Removes `key`; returns its value if it was present.
pub fn remove<T: Transactional>(
    tx: &mut T,
    root: &mut TreeRoot,
    key: &[u8],
) -> Result<Option<Vec<u8>>, TreeError> {
    check_key(key)?;
    let top = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    let Some(removed) = remove_at(tx, root, root.block, top, key)? else {
        return Ok(None);
    };
    root.block = removed.block;
    root.entries = root.entries.saturating_sub(1);
    // A branch root with a single child is replaced by that child.
    while root.height > 1 {
        let node = read_node(tx, root.block, root.height - 1)?;
        let Entries::Branch(v) = &node.entries else {
            break;
        };
        if v.len() != 1 {
            break;
        }
        let child = v[0].child;
        release_node(tx, root, root.block, node.generation)?;
        root.block = child;
        root.height -= 1;
    }
    Ok(Some(removed.value))
}

struct Removed {
    value: Vec<u8>,
    /// Where the subtree's top node is now.
    block: u64,
    /// The top node is small enough to be merged with a sibling.
    underfull: bool,
}

fn remove_at<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    block: u64,
    level: u8,
    key: &[u8],
) -> Result<Option<Removed>, TreeError> {
    // On the heap: the buffer lives across the recursion below.
    let mut buf = vec![0u8; NODE_SIZE];
    let view = read_view(tx, block, level, &mut buf)?;
    let old = Some((block, view.generation));
    let below = view.count_at_or_below(key);
    let (node, value) = if view.is_leaf() {
        let Some(i) = below.checked_sub(1).filter(|&i| view.key(i) == key) else {
            return Ok(None);
        };
        let mut node = view.to_node();
        let Entries::Leaf(v) = &mut node.entries else {
            return Err(TreeError::wrong_level(block, level, node.level));
        };
        let value = v.remove(i).value;
        (node, value)
    } else {
        let i = below.saturating_sub(1);
        let child = view.child(i);
        let Some(r) = remove_at(tx, root, child, level - 1, key)? else {
            return Ok(None);
        };
        let moved = r.block != child;
        let rebalance_needed = r.underfull && view.len() > 1;
        if !(moved || rebalance_needed) {
            return Ok(Some(Removed {
                value: r.value,
                block,
                underfull: false,
            }));
        }
        let mut node = view.to_node();
        let Entries::Branch(v) = &mut node.entries else {
            return Err(TreeError::wrong_level(block, level, node.level));
        };
        v[i].child = r.block;
        if rebalance_needed {
            rebalance(tx, root, level - 1, v, i)?;
        }
        (node, r.value)
    };
    let underfull = node.used_bytes() < UNDERFULL;
    let block = store_node(tx, root, old, node)?;
    Ok(Some(Removed {
        value,
        block,
        underfull,
    }))
}

/// Merges child `i` of a branch with a neighbour, or evens out their
/// entries when together they do not fit in one node. `child_level` is the
/// level of the children.
fn rebalance<T: Transactional>(
    tx: &mut T,
    root: &TreeRoot,
    child_level: u8,
    parent: &mut Vec<BranchEntry>,
    i: usize,
) -> Result<(), TreeError> {
    let (l, r) = if i + 1 < parent.len() {
        (i, i + 1)
    } else {
        (i - 1, i)
    };
    let left = read_node(tx, parent[l].child, child_level)?;
    let right = read_node(tx, parent[r].child, child_level)?;
    let left_old = Some((parent[l].child, left.generation));
    let right_old = Some((parent[r].child, right.generation));
    let entries = match (left.entries, right.entries) {
        (Entries::Leaf(mut a), Entries::Leaf(b)) => {
            a.extend(b);
            Entries::Leaf(a)
        }
        (Entries::Branch(mut a), Entries::Branch(mut b)) => {
            if let Some(first) = b.first_mut() {
                first.key = parent[r].key.clone();
            }
            a.extend(b);
            Entries::Branch(a)
        }
        // Both were read at `child_level`, so both are of the same kind.
        _ => {
            return Err(TreeError::wrong_level(
                parent[r].child,
                child_level,
                child_level,
            ))
        }
    };
    let mut merged = Node {
        generation: root.generation,
        level: child_level,
        entries,
    };
    if merged.fits() {
        parent[l].child = store_node(tx, root, left_old, merged)?;
        let gone = parent.remove(r);
        release_node(tx, root, gone.child, right.generation)?;
    } else {
        let (sep, right_entries) = split_entries(&mut merged.entries);
        let right_node = Node {
            generation: root.generation,
            level: child_level,
            entries: right_entries,
        };
        parent[l].child = store_node(tx, root, left_old, merged)?;
        parent[r].child = store_node(tx, root, right_old, right_node)?;
        parent[r].key = sep;
    }
    Ok(())
}
