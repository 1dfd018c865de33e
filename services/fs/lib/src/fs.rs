//! The namespace: paths, directories, inodes and files over one cowbtree,
//! file contents as content-store chunks, every change one block transaction.
//!
//! # Operation protocol
//! Each public operation runs in one block transaction: `begin`, change the
//! tree (and the content index), write the root block ([`crate::root`]),
//! `commit`. On any error the transaction is aborted and the in-memory roots
//! go back to what they were, so a failed operation changes nothing. Several
//! operations can be grouped into one transaction with [`Fs::atomically`]
//! (the registry writes a manifest, its links and its tag that way).
//!
//! # Crash guarantee
//! After a crash the filesystem is exactly as it was after some prefix of
//! the acknowledged operations: an operation whose commit returned in
//! `Durable` mode is in that prefix; in `Batched` mode, or with group
//! commit on ([`crate::group`]), it is once a later durable commit or
//! [`Fs::sync`] returned. Never a half-done operation.
//!
//! # Invariants
//! See [`crate::records`] for the tree's invariants; in addition the root
//! block's `logical_bytes` is the sum of the sizes of the live tree's files.
//!
//! # Where things are
//! This file holds the [`Fs`] handle, its in-memory state and settings;
//! each concept has a room of its own: [`mount`] (mount, format, staging
//! reaped), [`txn`] (transactions and the root block), [`paths`],
//! [`lookup`] (resolve, stat, list), [`namespace`] (create, mkdir, unlink,
//! rmdir, rename), [`read`], [`write`], [`truncate`] and [`extents`] (the
//! extent map of a file).

#[cfg(test)]
mod crafted_records;
mod dir_cache;
mod extents;
mod lookup;
mod mount;
mod namespace;
mod paths;
mod read;
mod stage;
mod truncate;
mod txn;
mod write;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

use crate::chunks::{ChunkStore, Chunks};
use crate::error::FsError;
use crate::node_cache::{NodeCache, NodeCacheStats};
use crate::records::{Inode, Kind, STAGING_DIR};
use crate::root::RootBlock;

pub use dir_cache::{DirCacheStats, DIR_CACHE_MAX};
pub(crate) use extents::decode_extent;
pub(crate) use paths::{components, parent_and_name};
pub use stage::{ReadCounts, ReadFail};

/// Default permission bits of new files and directories (the reference
/// registry's 0644 / 0755).
pub const FILE_MODE: u16 = 0o644;
pub const DIR_MODE: u16 = 0o755;

/// Block-layer root slot the filesystem owns by default.
pub const DEFAULT_ROOT_SLOT: usize = 0;

/// An inode together with its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub ino: u64,
    pub kind: Kind,
    pub mode: u16,
    pub size: u64,
    pub mtime: u64,
    pub ctime: u64,
}

impl Metadata {
    pub(super) fn new(ino: u64, i: &Inode) -> Metadata {
        Metadata {
            ino,
            kind: i.kind,
            mode: i.mode,
            size: i.size,
            mtime: i.mtime,
            ctime: i.ctime,
        }
    }
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// One directory entry as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub kind: Kind,
}

/// The in-memory copy of everything the root block names. Cloned before
/// each operation so a failed one can be undone.
#[derive(Clone)]
pub(crate) struct State<C> {
    pub meta: RootBlock,
    pub live: TreeRoot,
    pub snaps: TreeRoot,
    pub content: C,
    /// Which kinds of limit the live tree holds, once looked up: asked
    /// several times by every write ([`crate::quota`]). Forgotten by
    /// anything that adds or removes a limit record or swaps the live
    /// tree; undone with the rest of the state when an operation fails.
    pub quota_kinds: Option<crate::quota::QuotaKinds>,
}

/// A mounted filesystem over a transactional block store `T`, its file
/// contents in the content store `C` (in-process by default).
pub struct Fs<T: Transactional, C: Chunks<T> = ChunkStore> {
    /// The block store behind a cache of committed tree nodes
    /// ([`crate::node_cache`]); the content store's calls bypass the cache.
    pub(crate) dev: NodeCache<T>,
    slot: usize,
    pub(crate) state: State<C>,
    durability: Durability,
    /// Group commit ([`crate::group`]): `Durable` commits are made
    /// `Batched` and counted in `unsynced` until a sync.
    group_commit: bool,
    unsynced: u64,
    /// The group closes after this request ([`Fs::set_group_closing`]):
    /// its next grouped commit is `Durable`.
    group_closing: bool,
    /// Asked at the request's first grouped commit whether the group
    /// closes after it ([`Fs::set_group_close_probe`]).
    group_close_probe: Option<GroupCloseProbe>,
    in_txn: bool,
    time: Option<u64>,
    read_buf: C::ReadBuf,
    /// The read path's buffers and kept chunk ([`stage`]).
    pub(crate) stage: stage::Stage,
    events: VecDeque<String>,
    /// Check every chunk's bytes the content store returns (on when it is
    /// another process: [`Fs::check_received_chunks`]).
    check_chunks: bool,
    /// Longest length one request may announce ([`crate::limits`]).
    pub(crate) request_limit: u64,
    /// Roots pinned by stepped fsck and GC runs (`fsck_run`, `gc_run`),
    /// by run: a live tree and a snapshot table each ([`crate::pins`]);
    /// GC keeps them, and the snapshots the tables name, like snapshots.
    pub(crate) pinned: Vec<(u64, Vec<crate::pins::Pinned>)>,
    pub(crate) next_pin: u64,
    /// Directories looked up in the live tree ([`dir_cache`]).
    pub(crate) dirs: dir_cache::DirCache,
    /// Where the live tree's inserts build a changed node's image
    /// ([`cowbtree::insert_with`]): one buffer, not a zeroed one per insert.
    pub(crate) node_buf: Box<[u8; cowbtree::NODE_SIZE]>,
}

/// See [`Fs::set_group_close_probe`].
pub type GroupCloseProbe = Box<dyn FnMut() -> bool + Send>;

/// Recent events kept for `stats` and crash reports.
pub const EVENTS_KEPT: usize = 32;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// `Durable`: each operation is durable when it returns. `Batched`:
    /// operations become durable at the next durable commit or [`Fs::sync`].
    pub fn set_durability(&mut self, d: Durability) {
        self.durability = d;
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Makes every operation so far durable.
    pub fn sync(&mut self) -> Result<(), FsError> {
        self.dev.sync()?;
        self.unsynced = 0;
        Ok(())
    }

    /// Group commit ([`crate::group`]): while on, an operation that would
    /// commit `Durable` commits `Batched` and counts in
    /// [`Fs::unsynced_operations`]; it is durable at the next [`Fs::sync`].
    pub fn set_group_commit(&mut self, on: bool) {
        self.group_commit = on;
    }

    /// Group commit: the server knows its group closes right after the
    /// request it is about to serve (nothing else is queued, see
    /// [`crate::group::Group::closes_after`]), so that request's first
    /// grouped commit is `Durable` instead of `Batched`: the block store's
    /// durable commit makes every earlier batched one durable too, and
    /// [`Fs::unsynced_operations`] drops to 0 — the group needs no `sync`
    /// call of its own. Taken by that commit; the server clears it after
    /// the request either way.
    pub fn set_group_closing(&mut self, on: bool) {
        self.group_closing = on;
    }

    /// As [`Fs::set_group_closing`], decided as late as it can be: `probe`
    /// is asked, once, just before the request's first grouped commit
    /// (after its work, so a request that arrived meanwhile is seen and
    /// keeps the group open: the fs service's look-ahead receive). Not
    /// asked if the request fails first or commits nothing in group mode.
    /// The server sets it before each request and clears it (`None`) after.
    pub fn set_group_close_probe(&mut self, probe: Option<GroupCloseProbe>) {
        self.group_close_probe = probe;
    }

    /// Whether this commit closes the group (takes the flag and the probe).
    pub(crate) fn take_group_closing(&mut self) -> bool {
        if core::mem::take(&mut self.group_closing) {
            return true;
        }
        self.group_close_probe
            .take()
            .is_some_and(|mut probe| probe())
    }

    /// Operations promised durable (committed in group mode) since the
    /// last sync or durable commit: their replies must wait for a sync.
    pub fn unsynced_operations(&self) -> u64 {
        self.unsynced
    }

    /// Use `t` as the time of later operations; `None`: a logical clock
    /// that counts operations.
    pub fn set_time(&mut self, t: Option<u64>) {
        self.time = t;
    }

    /// Records an event in the ring of the last [`EVENTS_KEPT`].
    pub fn event(&mut self, text: String) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(text);
    }

    /// Recent events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(String::as_str)
    }

    /// Gives the block store back (tests reopen it after a simulated crash).
    pub fn into_device(self) -> T {
        self.dev.into_inner()
    }

    /// The block store itself (reports, counters); drops the node cache,
    /// since the caller may change blocks behind its back.
    pub fn device_mut(&mut self) -> &mut T {
        self.dev.inner_mut()
    }

    /// The block store, read-only (counters): keeps the node cache.
    pub fn device(&self) -> &T {
        &self.dev
    }

    /// Hits and misses of the cache of tree nodes ([`crate::node_cache`]).
    pub fn node_cache_stats(&self) -> NodeCacheStats {
        self.dev.stats()
    }

    /// Lookups of directories answered without a tree walk, and not.
    pub fn dir_cache_stats(&self) -> DirCacheStats {
        self.dirs.stats()
    }

    pub fn root_slot(&self) -> usize {
        self.slot
    }

    /// Checks every chunk's bytes the content store hands back (BLAKE3 and
    /// length) before use: for a content store in another process, whose
    /// answers are not trusted (the fs service turns it on).
    pub fn check_received_chunks(&mut self, on: bool) {
        self.check_chunks = on;
    }

    /// Sum of the sizes of the live tree's files.
    pub fn logical_bytes(&self) -> u64 {
        self.state.meta.logical_bytes
    }
}

/// Whether a file's size counts in `logical_bytes`: staging files of puts
/// in progress ([`crate::put`]) do not, until they are switched in.
pub(crate) fn counted(inode: &Inode) -> bool {
    inode.parent != STAGING_DIR
}
