//! Range scans with bounded memory: a cursor keeps the path from the root to
//! the current leaf (one decoded node per level), never a list of results.

use alloc::vec::Vec;
use core::ops::Bound;

use block::Transactional;

use crate::node::{Entries, Node};
use crate::root::TreeRoot;
use crate::tree::{child_index, read_node, TreeError};

/// A key and its value, as the cursor returns them.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Iterates the pairs of a tree within a key range, in key order.
///
/// The cursor borrows the transaction, so the tree cannot change under it.
/// Memory: at most `height` decoded nodes.
pub struct Cursor<'t, T: Transactional> {
    tx: &'t mut T,
    /// Nodes from the root down, each with the index of the next entry
    /// (leaf) or next child (branch) to visit.
    path: Vec<(Node, usize)>,
    end: Bound<Vec<u8>>,
    /// With [`range_recording`]: blocks of the nodes read and not yet
    /// taken ([`Cursor::take_entered`]).
    entered: Option<Vec<u64>>,
}

/// Opens a cursor over the keys within `(start, end)` of the tree at `root`.
pub fn range<'t, T: Transactional>(
    tx: &'t mut T,
    root: &TreeRoot,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> Result<Cursor<'t, T>, TreeError> {
    open(tx, root, start, end, false)
}

/// [`range`], recording the block of every node the cursor reads: the path
/// down to `start`, then each node as the walk enters it. A walk of the
/// whole tree in pages, each resuming after the last key of the previous
/// one, enters every node exactly once if it drops each later page's
/// path down (those nodes hold the previous key, so were entered before):
/// the way to visit node blocks in bounded pages, linear in the tree.
pub fn range_recording<'t, T: Transactional>(
    tx: &'t mut T,
    root: &TreeRoot,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> Result<Cursor<'t, T>, TreeError> {
    open(tx, root, start, end, true)
}

fn open<'t, T: Transactional>(
    tx: &'t mut T,
    root: &TreeRoot,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    record: bool,
) -> Result<Cursor<'t, T>, TreeError> {
    let mut entered = record.then(Vec::new);
    let mut level = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
        height: root.height,
    })?;
    let mut block = root.block;
    let mut path = Vec::with_capacity(usize::from(root.height));
    loop {
        let node = read_node(tx, block, level)?;
        if let Some(e) = &mut entered {
            e.push(block);
        }
        match &node.entries {
            Entries::Leaf(v) => {
                let pos = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(k) => v.partition_point(|e| e.key.as_slice() < k),
                    Bound::Excluded(k) => v.partition_point(|e| e.key.as_slice() <= k),
                };
                path.push((node, pos));
                break;
            }
            Entries::Branch(v) => {
                let i = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(k) | Bound::Excluded(k) => child_index(v, k),
                };
                block = v[i].child;
                path.push((node, i + 1));
                level -= 1;
            }
        }
    }
    let end = match end {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
    };
    Ok(Cursor {
        tx,
        path,
        end,
        entered,
    })
}

impl<T: Transactional> Cursor<'_, T> {
    /// Hands the blocks of the nodes read since the last call to `f`, in
    /// the order they were read (nothing unless opened by
    /// [`range_recording`]).
    pub fn take_entered(&mut self, mut f: impl FnMut(u64)) {
        if let Some(e) = &mut self.entered {
            e.drain(..).for_each(&mut f);
        }
    }

    /// The next pair, or `None` at the end of the range.
    pub fn next_entry(&mut self) -> Result<Option<Pair>, TreeError> {
        loop {
            let Some((node, pos)) = self.path.last_mut() else {
                return Ok(None);
            };
            let index = *pos;
            *pos += 1;
            let next_child = match &mut node.entries {
                Entries::Leaf(v) => match v.get_mut(index) {
                    Some(e) => {
                        let past_end = match &self.end {
                            Bound::Unbounded => false,
                            Bound::Included(k) => e.key > *k,
                            Bound::Excluded(k) => e.key >= *k,
                        };
                        if past_end {
                            self.path.clear();
                            return Ok(None);
                        }
                        return Ok(Some((
                            core::mem::take(&mut e.key),
                            core::mem::take(&mut e.value),
                        )));
                    }
                    None => None,
                },
                Entries::Branch(v) => v.get(index).map(|e| (e.child, node.level - 1)),
            };
            match next_child {
                Some((block, level)) => {
                    let child = read_node(self.tx, block, level)?;
                    if let Some(e) = &mut self.entered {
                        e.push(block);
                    }
                    self.path.push((child, 0));
                }
                None => {
                    self.path.pop();
                }
            }
        }
    }
}

impl<T: Transactional> Iterator for Cursor<'_, T> {
    type Item = Result<Pair, TreeError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_entry() {
            Ok(Some(pair)) => Some(Ok(pair)),
            Ok(None) => None,
            Err(e) => {
                // Stop after reporting the error once.
                self.path.clear();
                Some(Err(e))
            }
        }
    }
}
