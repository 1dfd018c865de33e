//! Copy-on-write B+tree over block transactions, with O(1) snapshots.
//!
//! The metadata structure of the content store (chunk index) and of the
//! filesystem (namespace, inodes, extent maps). A tree maps byte-string keys
//! (at most [`MAX_KEY_LEN`] = 255 bytes) to byte-string values (at most
//! [`MAX_VALUE_LEN`] = 1024 bytes), one node per 4096-byte block, and is
//! named by a [`TreeRoot`] that its owner stores (48 bytes, fixed encoding).
//!
//! # Design principles
//! - Simple and clear over clever: a node to be changed is decoded into
//!   plain vectors, changed, and encoded again; lookups and descents probe
//!   a verified image in place (`node::Probe`: entries located on the
//!   stack, one binary search), so a step allocates nothing; one node
//!   per block; no node cache here (the owner's device may cache: an
//!   image its cache verified with `NodeView::parse` when it kept it is
//!   not checksummed again, see
//!   `block::Transactional::read_verified`). Nodes are written through
//!   `block::Transactional::write_sealing`: the device seals an image
//!   (`node::seal`) before it reaches the disk, at once by default, or
//!   once per block per transaction in a cache that keeps the
//!   transaction's writes (a node rewritten five times is sealed once).
//! - A sorted run of entries goes in as one batch ([`insert_batch`]): one
//!   descent per leaf it touches, each changed node written once, and
//!   the same tree, node for node, as single inserts of each entry.
//! - The caller owns the transaction: every operation runs inside the
//!   transaction the caller opened, so a tree change commits atomically with
//!   whatever else the caller writes (its roots, data extents).
//! - Copy-on-write only where it is needed: a node a snapshot may share
//!   (generation <= `snapshot_generation`) is copied before change; a node
//!   the tree alone owns is changed in place by a journaled write. A
//!   snapshot is therefore a copy of the root ([`snapshot`]), O(1).
//! - Nothing on disk can make this crate panic: every node is checksummed
//!   (crc32c, bound to its block number) and verified on read (or when a
//!   cache of verified nodes kept it), decoders check
//!   every length before using it, and depth is capped at `MAX_LEVEL + 1`.
//! - Bounded memory: range scans ([`range`]) and [`diff`] keep one node per
//!   level, never a list of results; [`diff_page`] resumes a diff after a
//!   key and stops after a page, so a paged diff costs work per page.
//!
//! # Invariants
//! - Every node reachable from a root has a generation <= the root's
//!   generation; a node shared by two roots has a generation <= both roots'
//!   `snapshot_generation` (established by [`snapshot`], kept because shared
//!   nodes are never written).
//! - Branch separator `i > 0` is a lower bound of child `i`'s keys and an
//!   upper bound (exclusive) of child `i - 1`'s; levels decrease by one per
//!   step down and reach 0 at the leaves.
//!
//! # Crash safety
//! All writes go through the caller's transaction; the block layer makes the
//! transaction all or nothing. Cases:
//! 1. Crash before the commit is durable: node writes (in place or copies),
//!    allocations and frees roll back together with the owner's stored root,
//!    which still names the old tree, whose nodes are as they were.
//! 2. Crash after: the stored root names the new tree; every node it
//!    reaches was written in the same transaction or an earlier one.
//! 3. Either way a snapshot root stored durably reads its original contents:
//!    nodes it shares are never written, only copied.
//!
//! `tests/crash_during_tree_updates.rs` checks this at every flush and
//! sampled points between (writes dropped, kept, reordered, torn).
//!
//! # Garbage
//! Copies leave the old (shared) node behind; it is not freed because the
//! tree cannot know whether a snapshot still uses it. The owner reclaims such
//! blocks by garbage collection: mark every block reachable from all live
//! roots ([`visit_node_blocks`]), free every allocated block not marked.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod check;
mod checksum;
mod cursor;
mod diff;
pub mod node;
mod root;
mod tree;

pub use check::{check, CheckReport, TreeCheck, Visited, MAX_LISTED_PROBLEMS};
pub use checksum::crc32c_then_zeros;
pub use cursor::{range, range_recording, Cursor, Pair};
pub use diff::{diff, diff_page, DiffEntry, DiffLimits, DiffPageEnd, DiffStats};
pub use node::{node_checksums, node_seals, MAX_KEY_LEN, MAX_LEVEL, MAX_VALUE_LEN, NODE_SIZE};
pub use root::{RootDecodeError, TreeRoot};
pub use tree::{
    create, get, insert, insert_batch, insert_with, read_node, remove, snapshot, visit_node_blocks,
    TreeError,
};
