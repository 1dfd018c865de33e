//! `check`: the tree part of fsck. Walks every node and reports, in plain
//! words with block numbers, anything that breaks the tree's invariants:
//! checksums, levels, key order within nodes and against the parent's
//! separators, generations newer than the root, nodes reached twice, empty
//! non-root nodes, and a pair count different from the root's.

use alloc::collections::BTreeSet;
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

/// Checks the whole tree at `root`. I/O errors other than corruption end the
/// walk early and are reported as problems too. Memory: the set of visited
/// node blocks (8 bytes per node) plus one node's children per level.
pub fn check<T: Transactional>(tx: &mut T, root: &TreeRoot) -> CheckReport {
    let mut report = CheckReport::default();
    let Some(top) = root.height.checked_sub(1) else {
        report.problem(format!("tree root at block {} has height 0", root.block));
        return report;
    };
    let mut seen = BTreeSet::new();
    let mut pending = vec![Pending {
        block: root.block,
        level: top,
        lower: None,
        upper: None,
    }];
    let mut buf = [0u8; NODE_SIZE];
    while let Some(p) = pending.pop() {
        if !seen.insert(p.block) {
            report.problem(format!("block {} is reached twice in the tree", p.block));
            continue;
        }
        if let Err(e) = tx.read(p.block, &mut buf) {
            report.problem(format!("block {}: cannot be read: {e:?}", p.block));
            continue;
        }
        let node = match Node::decode(p.block, &buf) {
            Ok(n) => n,
            Err(e) => {
                report.problem(format!("block {}: {e}", p.block));
                continue;
            }
        };
        report.nodes += 1;
        if node.level != p.level {
            report.problem(format!(
                "block {}: level {} where {} was expected",
                p.block, node.level, p.level
            ));
            continue;
        }
        if node.generation > root.generation {
            report.problem(format!(
                "block {}: generation {} is newer than the tree's {}",
                p.block, node.generation, root.generation
            ));
        }
        if node.is_empty() && p.block != root.block {
            report.problem(format!("block {}: empty node below the root", p.block));
        }
        let keys: Vec<&[u8]> = match &node.entries {
            Entries::Leaf(v) => v.iter().map(|e| e.key.as_slice()).collect(),
            // The first separator is always empty; child 0 inherits `lower`.
            Entries::Branch(v) => v.iter().skip(1).map(|e| e.key.as_slice()).collect(),
        };
        if let (Some(lower), Some(first)) = (&p.lower, keys.first()) {
            if *first < lower.as_slice() {
                report.problem(format!(
                    "block {}: key {:02x?} is below the parent's separator {:02x?}",
                    p.block, first, lower
                ));
            }
        }
        if let (Some(upper), Some(last)) = (&p.upper, keys.last()) {
            if *last >= upper.as_slice() {
                report.problem(format!(
                    "block {}: key {:02x?} is not below the next separator {:02x?}",
                    p.block, last, upper
                ));
            }
        }
        match node.entries {
            Entries::Leaf(v) => report.pairs += v.len() as u64,
            Entries::Branch(v) => {
                let n = v.len();
                for i in (0..n).rev() {
                    let lower = if i == 0 {
                        p.lower.clone()
                    } else {
                        Some(v[i].key.clone())
                    };
                    let upper = if i + 1 < n {
                        Some(v[i + 1].key.clone())
                    } else {
                        p.upper.clone()
                    };
                    pending.push(Pending {
                        block: v[i].child,
                        level: p.level - 1,
                        lower,
                        upper,
                    });
                }
            }
        }
    }
    if report.problem_count == 0 && report.pairs != root.entries {
        report.problem(format!(
            "tree at block {} holds {} pairs but its root says {}",
            root.block, report.pairs, root.entries
        ));
    }
    report
}
