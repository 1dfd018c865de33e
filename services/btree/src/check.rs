//! `check`: the tree part of fsck. Walks every node and reports, in plain
//! words with block numbers, anything that breaks the tree's invariants:
//! checksums, levels, key order within nodes and against the parent's
//! separators, generations newer than the root, nodes reached twice, empty
//! non-root nodes, and a pair count different from the root's.
//!
//! [`TreeCheck`] is the same walk in bounded steps (at most `max_nodes`
//! nodes read per [`TreeCheck::step`]), for a caller that answers other
//! requests between steps; [`check`] runs it to the end in one call.
//!
//! # Memory
//! The walk's state is its stack of subtrees still to visit (one node's
//! children per level, at most `MAX_LEVEL + 1` levels, each with its two
//! bounding keys), the last leaf key met, and the report (at most
//! [`MAX_LISTED_PROBLEMS`] texts). There is no set of visited blocks: a
//! depth-first walk meets leaf keys in ascending order in a sound tree, so
//! a node reached a second time shows as a key that is not above the last
//! one met (a repeated branch shows at its first separator, and its
//! subtree is not walked again); an empty node is reported where it is
//! met; a pointer back up the tree is caught by the level check.
//!
//! # A checker across steps needs a fixed tree
//! Between two steps the tree at `root` must not change: pass the root of
//! a snapshot ([`crate::snapshot`]), whose nodes are never written again,
//! and keep their blocks allocated until the check is done (the owner's
//! GC must count the root as live). A walk over a changing tree reads
//! nodes that were freed or rewritten and reports problems that are not
//! there. [`TreeCheck::from_key`] is the exception: it checks only the
//! keys from a bound on, for a caller that pages through a changing tree
//! one request at a time and defines what each page guarantees.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use block::Transactional;

use crate::node::{Entries, Node, NODE_SIZE};
use crate::root::TreeRoot;

/// At most this many problems are listed; the count keeps going.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub nodes: u64,
    pub pairs: u64,
    /// Total number of problems found (may exceed `problems.len()`).
    pub problem_count: u64,
    /// The first [`MAX_LISTED_PROBLEMS`] problems, in plain words.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(text);
        }
    }
}

struct Pending {
    block: u64,
    level: u8,
    /// Keys in the subtree must be >= lower (if any) and < upper (if any).
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
}

/// What [`TreeCheck::step_visit`] hands its visitor.
pub enum Visited<'a> {
    /// A node's block (read, whether or not it decodes).
    Node(u64),
    /// A pair of a leaf: key, value.
    Pair(&'a [u8], &'a [u8]),
}

/// A resumable [`check`] (see the module comment).
pub struct TreeCheck {
    root: TreeRoot,
    /// Only keys >= this are checked ([`TreeCheck::from_key`]).
    from: Option<Vec<u8>>,
    pending: Vec<Pending>,
    /// The greatest leaf key met so far.
    last_key: Option<Vec<u8>>,
    report: CheckReport,
    /// The pair count was compared (or there was nothing to compare).
    finished: bool,
}

impl TreeCheck {
    /// A check of the whole tree at `root`.
    pub fn new(root: &TreeRoot) -> Self {
        Self::from_key(root, None)
    }

    /// A check of the keys >= `from` only: subtrees wholly below it are
    /// not read, and a node whose range starts below it (the path down to
    /// `from`, which an earlier page entered) is walked through but its
    /// own problems are not reported again. Pairs below `from` are not
    /// counted and the pair count is not compared with the root's.
    pub fn from_key(root: &TreeRoot, from: Option<&[u8]>) -> Self {
        let mut report = CheckReport::default();
        let pending = match root.height.checked_sub(1) {
            Some(top) => vec![Pending {
                block: root.block,
                level: top,
                lower: None,
                upper: None,
            }],
            None => {
                report.problem(format!("tree root at block {} has height 0", root.block));
                Vec::new()
            }
        };
        TreeCheck {
            root: *root,
            from: from.map(<[u8]>::to_vec),
            pending,
            last_key: None,
            report,
            finished: false,
        }
    }

    /// Whether the walk is over.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// What the walk found so far.
    pub fn report(&self) -> &CheckReport {
        &self.report
    }

    /// Where the keys not yet checked start: the lower bound of the next
    /// subtree to visit (`None` while that is still the leftmost one, or
    /// when the walk is done).
    pub fn next_key(&self) -> Option<&[u8]> {
        self.pending.last().and_then(|p| p.lower.as_deref())
    }

    /// Reads at most `max_nodes` nodes (at least one) of the walk; `true`
    /// when it is done. I/O errors other than corruption are reported as
    /// problems and the walk goes on past that subtree.
    pub fn step<T: Transactional>(&mut self, tx: &mut T, max_nodes: usize) -> bool {
        self.step_visit(tx, max_nodes, &mut |_| {})
    }

    /// [`TreeCheck::step`], handing `f` every node block read whose
    /// problems are this walk's to report, and every pair checked (key >=
    /// `from`), pairs in key order.
    pub fn step_visit<T: Transactional>(
        &mut self,
        tx: &mut T,
        max_nodes: usize,
        f: &mut dyn FnMut(Visited<'_>),
    ) -> bool {
        let mut buf = [0u8; NODE_SIZE];
        let mut read = 0usize;
        while read < max_nodes.max(1) {
            let Some(p) = self.pending.pop() else { break };
            read += 1;
            self.visit(tx, p, &mut buf, f);
        }
        if self.pending.is_empty() && !self.finished {
            self.finished = true;
            let r = &mut self.report;
            if self.from.is_none() && r.problem_count == 0 && r.pairs != self.root.entries {
                r.problem(format!(
                    "tree at block {} holds {} pairs but its root says {}",
                    self.root.block, r.pairs, self.root.entries
                ));
            }
        }
        self.pending.is_empty()
    }

    /// The report of a finished walk (a walk cut short reports what it
    /// reached, without the pair count comparison).
    pub fn finish(self) -> CheckReport {
        self.report
    }

    /// Whether `p`'s own problems are this walk's to report: not when its
    /// range starts below `from` (an earlier page reported them).
    fn reports(&self, p: &Pending) -> bool {
        match (&self.from, &p.lower) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(from), Some(lower)) => lower >= from,
        }
    }

    fn visit<T: Transactional>(
        &mut self,
        tx: &mut T,
        p: Pending,
        buf: &mut [u8; NODE_SIZE],
        f: &mut dyn FnMut(Visited<'_>),
    ) {
        let own = self.reports(&p);
        let problem = |report: &mut CheckReport, text: String| {
            if own {
                report.problem(text);
            }
        };
        if let Err(e) = tx.read(p.block, buf) {
            problem(
                &mut self.report,
                format!("block {}: cannot be read: {e:?}", p.block),
            );
            return;
        }
        if own {
            f(Visited::Node(p.block));
        }
        let node = match Node::decode(p.block, buf) {
            Ok(n) => n,
            Err(e) => {
                problem(&mut self.report, format!("block {}: {e}", p.block));
                return;
            }
        };
        self.report.nodes += 1;
        let keys: Vec<&[u8]> = match &node.entries {
            Entries::Leaf(v) => v.iter().map(|e| e.key.as_slice()).collect(),
            // The first separator is always empty; child 0 inherits `lower`.
            Entries::Branch(v) => v.iter().skip(1).map(|e| e.key.as_slice()).collect(),
        };
        // Walked in key order, every key met so far is below this node's
        // keys; one that is not means this node was reached before.
        let from = self.from.as_deref();
        let first_new = keys.iter().find(|k| from.is_none_or(|f| **k >= f));
        if let (Some(last), Some(first)) = (&self.last_key, first_new) {
            if *first <= last.as_slice() {
                problem(
                    &mut self.report,
                    format!(
                        "block {}: key {:02x?} is not above key {:02x?} met before it \
                         (a node reached twice, or keys out of order)",
                        p.block, first, last
                    ),
                );
                return;
            }
        }
        if node.level != p.level {
            problem(
                &mut self.report,
                format!(
                    "block {}: level {} where {} was expected",
                    p.block, node.level, p.level
                ),
            );
            return;
        }
        if node.generation > self.root.generation {
            problem(
                &mut self.report,
                format!(
                    "block {}: generation {} is newer than the tree's {}",
                    p.block, node.generation, self.root.generation
                ),
            );
        }
        if node.is_empty() && p.block != self.root.block {
            problem(
                &mut self.report,
                format!("block {}: empty node below the root", p.block),
            );
        }
        if let (Some(lower), Some(first)) = (&p.lower, keys.first()) {
            if *first < lower.as_slice() {
                problem(
                    &mut self.report,
                    format!(
                        "block {}: key {:02x?} is below the parent's separator {:02x?}",
                        p.block, first, lower
                    ),
                );
            }
        }
        if let (Some(upper), Some(last)) = (&p.upper, keys.last()) {
            if *last >= upper.as_slice() {
                problem(
                    &mut self.report,
                    format!(
                        "block {}: key {:02x?} is not below the next separator {:02x?}",
                        p.block, last, upper
                    ),
                );
            }
        }
        match node.entries {
            Entries::Leaf(v) => {
                for e in v
                    .iter()
                    .filter(|e| from.is_none_or(|f| e.key.as_slice() >= f))
                {
                    self.report.pairs += 1;
                    f(Visited::Pair(&e.key, &e.value));
                }
                if let Some(e) = v.last() {
                    if from.is_none_or(|f| e.key.as_slice() >= f) {
                        self.last_key = Some(e.key.clone());
                    }
                }
            }
            Entries::Branch(v) => {
                let n = v.len();
                for i in (0..n).rev() {
                    let upper = if i + 1 < n {
                        Some(v[i + 1].key.clone())
                    } else {
                        p.upper.clone()
                    };
                    // Wholly below `from`: an earlier page's.
                    if let (Some(f), Some(u)) = (from, &upper) {
                        if u.as_slice() <= f {
                            continue;
                        }
                    }
                    let lower = if i == 0 {
                        p.lower.clone()
                    } else {
                        Some(v[i].key.clone())
                    };
                    self.pending.push(Pending {
                        block: v[i].child,
                        level: p.level - 1,
                        lower,
                        upper,
                    });
                }
            }
        }
    }
}

/// Checks the whole tree at `root` in one call (nothing may change the
/// tree meanwhile). I/O errors other than corruption are reported as
/// problems too. Memory: see the module comment.
pub fn check<T: Transactional>(tx: &mut T, root: &TreeRoot) -> CheckReport {
    let mut walk = TreeCheck::new(root);
    while !walk.step(tx, usize::MAX) {}
    walk.finish()
}
