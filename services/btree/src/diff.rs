//! Differences between two trees that may share nodes (a snapshot and the
//! live tree), skipping every subtree both reach through the same block.
//!
//! Each side is a stack of pending items in key order: leaf pairs and
//! unexpanded subtrees with a lower bound on their keys. Two subtrees at the
//! front with the same block hold the same pairs and are dropped unread;
//! otherwise the side whose front is less resolved is expanded. Memory is one
//! node's entries per level per side.
//!
//! A diff can be taken a page at a time ([`diff_page`]): it starts after a
//! key, dropping every pair and subtree wholly at or below it as nodes are
//! expanded (so a resumed page reads one path per side down to the key, not
//! what came before), and stops after a number of differing keys or of
//! nodes read, answering the key to resume after. Every key up to that key
//! has been compared on both sides, so pages never repeat or miss a key.

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

struct Side<'a> {
    stack: Vec<Item>,
    nodes_read: u64,
    /// Pairs and subtrees wholly at or below this key are dropped.
    after: Option<&'a [u8]>,
}

/// What a diff cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Nodes read from both trees; shared subtrees are never read.
    pub nodes_read: u64,
}

/// Where a page of a diff stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiffLimits {
    /// Differing keys reported at most.
    pub entries: usize,
    /// Nodes read (both trees), at most about: the page stops at the first
    /// key compared once this many were read. Bounds a page's work where
    /// many nodes differ but few keys do (rewritten values equal to the old).
    pub nodes: u64,
}

impl DiffLimits {
    /// No limit: the whole diff.
    pub const NONE: DiffLimits = DiffLimits {
        entries: usize::MAX,
        nodes: u64::MAX,
    };
}

/// What a page of a diff cost and where the next one starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffPageEnd {
    pub stats: DiffStats,
    /// `Some(k)`: a limit was reached; every key `<= k` has been compared,
    /// the next page starts after `k`. `None`: the diff is complete.
    pub resume_after: Option<Vec<u8>>,
}

impl<'a> Side<'a> {
    fn new(root: &TreeRoot, after: Option<&'a [u8]>) -> Result<Self, TreeError> {
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
            after,
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
        let after = self.after;
        match node.entries {
            Entries::Leaf(v) => {
                // Keys at or below `after` were reported by an earlier page.
                let from = after.map_or(0, |a| v.partition_point(|e| e.key.as_slice() <= a));
                self.stack
                    .extend(v.into_iter().skip(from).rev().map(|e| Item::Pair {
                        key: e.key,
                        value: e.value,
                    }));
            }
            Entries::Branch(v) => {
                // Child i holds keys below separator i + 1: it is wholly at
                // or below `after` when that separator is <= `after`, so the
                // first child kept is the one whose range holds keys above.
                let from = after.map_or(0, |a| {
                    v.partition_point(|e| e.key.as_slice() <= a)
                        .saturating_sub(1)
                });
                let children =
                    v.into_iter()
                        .enumerate()
                        .skip(from)
                        .rev()
                        .map(|(i, e)| Item::Subtree {
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
    f: impl FnMut(DiffEntry),
) -> Result<DiffStats, TreeError> {
    Ok(diff_page(tx, old, new, None, DiffLimits::NONE, f)?.stats)
}

/// One page of [`diff`]: calls `f` for the differing keys above `after`
/// (`None`: from the first key), in key order, until `limits` is reached.
/// Subtrees wholly at or below `after` are never read; shared subtrees are
/// skipped as in [`diff`]. Pages chained through
/// [`DiffPageEnd::resume_after`] report every differing key exactly once,
/// whatever the limits.
pub fn diff_page<T: Transactional>(
    tx: &mut T,
    old: &TreeRoot,
    new: &TreeRoot,
    after: Option<&[u8]>,
    limits: DiffLimits,
    mut f: impl FnMut(DiffEntry),
) -> Result<DiffPageEnd, TreeError> {
    let mut a = Side::new(old, after)?;
    let mut b = Side::new(new, after)?;
    let mut reported = 0usize;
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
                return Ok(DiffPageEnd {
                    stats: DiffStats {
                        nodes_read: a.nodes_read + b.nodes_read,
                    },
                    resume_after: None,
                })
            }
            Step::ExpandA => a.expand(tx)?,
            Step::ExpandB => b.expand(tx)?,
            Step::SkipBoth => {
                a.stack.pop();
                b.stack.pop();
            }
            Step::OnlyA | Step::OnlyB | Step::Both => {
                let entry = match step {
                    Step::OnlyA => a.pop_pair().map(|(key, value)| DiffEntry {
                        key,
                        old: Some(value),
                        new: None,
                    }),
                    Step::OnlyB => b.pop_pair().map(|(key, value)| DiffEntry {
                        key,
                        old: None,
                        new: Some(value),
                    }),
                    _ => match (a.pop_pair(), b.pop_pair()) {
                        (Some((key, va)), Some((_, vb))) => Some(DiffEntry {
                            key,
                            old: Some(va),
                            new: Some(vb),
                        }),
                        _ => None,
                    },
                };
                let Some(entry) = entry else { continue };
                // Every key up to this one is now compared on both sides:
                // a page may end here.
                let key = if entry.old != entry.new {
                    reported += 1;
                    let key = entry.key.clone();
                    f(entry);
                    key
                } else {
                    entry.key
                };
                if reported >= limits.entries || a.nodes_read + b.nodes_read >= limits.nodes {
                    return Ok(DiffPageEnd {
                        stats: DiffStats {
                            nodes_read: a.nodes_read + b.nodes_read,
                        },
                        resume_after: Some(key),
                    });
                }
            }
        }
    }
}
