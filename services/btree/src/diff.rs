//! Differences between two trees that may share nodes (a snapshot and the
//! live tree), skipping every subtree both reach through the same block.
//!
//! Each side is a stack of pending items in key order: leaf pairs and
//! unexpanded subtrees with a lower bound on their keys. Two subtrees at the
//! front with the same block hold the same pairs and are dropped unread;
//! otherwise the side whose front is less resolved is expanded. Memory is one
//! node's entries per level per side.

use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;

use block::Transactional;

use crate::node::Entries;
use crate::root::TreeRoot;
use crate::tree::{read_node, TreeError};

/// A key whose value differs between the old and the new tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffEntry {
    pub key: Vec<u8>,
    /// Value in the old tree; `None` when the key was added.
    pub old: Option<Vec<u8>>,
    /// Value in the new tree; `None` when the key was removed.
    pub new: Option<Vec<u8>>,
}

enum Item {
    Pair {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A subtree whose keys are all at or above `lower` (`None`: no bound).
    Subtree {
        block: u64,
        level: u8,
        lower: Option<Vec<u8>>,
    },
}

struct Side {
    stack: Vec<Item>,
    nodes_read: u64,
}

/// What a diff cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Nodes read from both trees; shared subtrees are never read.
    pub nodes_read: u64,
}

impl Side {
    fn new(root: &TreeRoot) -> Result<Self, TreeError> {
        let level = root.height.checked_sub(1).ok_or(TreeError::TooDeep {
            height: root.height,
        })?;
        Ok(Side {
            stack: vec![Item::Subtree {
                block: root.block,
                level,
                lower: None,
            }],
            nodes_read: 0,
        })
    }

    /// Replaces the subtree on top of the stack by its entries.
    fn expand<T: Transactional>(&mut self, tx: &mut T) -> Result<(), TreeError> {
        let Some(Item::Subtree {
            block,
            level,
            lower,
        }) = self.stack.pop()
        else {
            return Ok(());
        };
        let node = read_node(tx, block, level)?;
        self.nodes_read += 1;
        match node.entries {
            Entries::Leaf(v) => {
                self.stack.extend(v.into_iter().rev().map(|e| Item::Pair {
                    key: e.key,
                    value: e.value,
                }));
            }
            Entries::Branch(v) => {
                let children = v.into_iter().enumerate().rev().map(|(i, e)| Item::Subtree {
                    block: e.child,
                    level: level - 1,
                    lower: if i == 0 { lower.clone() } else { Some(e.key) },
                });
                self.stack.extend(children.collect::<Vec<_>>());
            }
        }
        Ok(())
    }

    fn pop_pair(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        match self.stack.pop() {
            Some(Item::Pair { key, value }) => Some((key, value)),
            _ => None,
        }
    }
}

/// Calls `f` for every key whose value differs between `old` and `new`, in
/// key order. Subtrees both trees reach through the same block are skipped
/// without reading them.
pub fn diff<T: Transactional>(
    tx: &mut T,
    old: &TreeRoot,
    new: &TreeRoot,
    mut f: impl FnMut(DiffEntry),
) -> Result<DiffStats, TreeError> {
    let mut a = Side::new(old)?;
    let mut b = Side::new(new)?;
    loop {
        // What to do next, decided from the two fronts without holding borrows.
        enum Step {
            Done,
            ExpandA,
            ExpandB,
            SkipBoth,
            OnlyA,
            OnlyB,
            Both,
        }
        let step = match (a.stack.last(), b.stack.last()) {
            (None, None) => Step::Done,
            (Some(Item::Subtree { .. }), None) => Step::ExpandA,
            (Some(Item::Pair { .. }), None) => Step::OnlyA,
            (None, Some(Item::Subtree { .. })) => Step::ExpandB,
            (None, Some(Item::Pair { .. })) => Step::OnlyB,
            (
                Some(Item::Subtree {
                    block: x,
                    level: lx,
                    ..
                }),
                Some(Item::Subtree {
                    block: y,
                    level: ly,
                    ..
                }),
            ) => {
                if x == y {
                    Step::SkipBoth
                } else if ly > lx {
                    Step::ExpandB
                } else {
                    Step::ExpandA
                }
            }
            (Some(Item::Subtree { lower, .. }), Some(Item::Pair { key, .. })) => match lower {
                // Every key left on side a is >= lower > key: key is new.
                Some(l) if key < l => Step::OnlyB,
                _ => Step::ExpandA,
            },
            (Some(Item::Pair { key, .. }), Some(Item::Subtree { lower, .. })) => match lower {
                Some(l) if key < l => Step::OnlyA,
                _ => Step::ExpandB,
            },
            (Some(Item::Pair { key: ka, .. }), Some(Item::Pair { key: kb, .. })) => {
                match ka.cmp(kb) {
                    Ordering::Less => Step::OnlyA,
                    Ordering::Greater => Step::OnlyB,
                    Ordering::Equal => Step::Both,
                }
            }
        };
        match step {
            Step::Done => {
                return Ok(DiffStats {
                    nodes_read: a.nodes_read + b.nodes_read,
                })
            }
            Step::ExpandA => a.expand(tx)?,
            Step::ExpandB => b.expand(tx)?,
            Step::SkipBoth => {
                a.stack.pop();
                b.stack.pop();
            }
            Step::OnlyA => {
                if let Some((key, value)) = a.pop_pair() {
                    f(DiffEntry {
                        key,
                        old: Some(value),
                        new: None,
                    });
                }
            }
            Step::OnlyB => {
                if let Some((key, value)) = b.pop_pair() {
                    f(DiffEntry {
                        key,
                        old: None,
                        new: Some(value),
                    });
                }
            }
            Step::Both => {
                if let (Some((key, va)), Some((_, vb))) = (a.pop_pair(), b.pop_pair()) {
                    if va != vb {
                        f(DiffEntry {
                            key,
                            old: Some(va),
                            new: Some(vb),
                        });
                    }
                }
            }
        }
    }
}
