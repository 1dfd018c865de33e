//! Filesystem, OCI registry layout and API, snapshots, GC and fsck.
//!
//! The top of the storage stack: a namespace of directories and files
//! ([`fs::Fs`]) kept in one copy-on-write B+tree (`cowbtree`), whose file
//! contents are sequences of BLAKE3 chunks in the content store (`content`),
//! all inside block transactions (`block`). On it: the reference registry's
//! tree and API ([`registry::Registry`]), named snapshots ([`snapshots`]),
//! garbage collection ([`gc`]) and fsck ([`fsck`]).
//!
//! # Design principles
//! - One operation, one block transaction: the tree, the chunk index and the
//!   root block (all roots and counters, checksummed) commit together, so
//!   after a crash every structure is as before or after each operation.
//! - Everything a user sends is validated by one grammar ([`names`]) before
//!   it becomes a path; everything read from the disk is checked before use
//!   (records, links, roots) and a failure names the values seen.
//! - Replacing a file is all or nothing at any size: a put session streams
//!   into a staging file no path reaches and switches it in with one
//!   transaction ([`put`]).
//! - Streaming with bounded memory: blobs go in and out a piece at a time;
//!   reads seek the extent map (keyed by end offset) instead of scanning.
//! - Snapshots are root copies (O(1)); nothing is freed in place that a
//!   snapshot could still see: garbage is reclaimed by mark and sweep from
//!   every root, which also pins uploads in progress.
//! - Simple over clever: directory listings, diffs and walks are cursors
//!   over the same tree. Two caches above the block layer's, for speed: a
//!   bounded cache of committed tree nodes ([`node_cache`]), since each
//!   block read is an IPC call in the service; its invariant (an image is
//!   its block's committed contents; writes, frees, aborts drop it) is
//!   enforced in one place, the device wrapper. And a bounded cache of
//!   the live tree's directories by entry key (`fs/dir_cache.rs`), since
//!   every registry put walks the same directories: the two functions that
//!   write directory entries forget the key, and a rollback or a restore
//!   forgets everything.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod chunks;
pub mod digest;
pub mod error;
pub mod fs;
pub mod fsck;
pub mod fsck_run;
pub mod gc;
mod gc_reach;
pub mod gc_run;
pub mod group;
pub mod io;
pub mod layout;
pub mod limits;
pub mod link;
pub mod listing;
pub mod names;
pub mod node_cache;
mod pins;
pub mod put;
pub mod quota;
pub mod received;
pub mod records;
pub mod registry;
pub mod registry_gc;
pub mod root;
pub mod snapshot_record;
pub mod snapshot_space;
pub mod snapshots;
pub mod stream;
pub mod upload_session;

pub use chunks::{ChunkStore, Chunks, Findings};
pub use error::FsError;
pub use fs::{DirEntry, Fs, Metadata, ReadCounts, ReadFail};
pub use fsck::{fsck_blocks, FsckReport, SpaceStats};
pub use fsck_run::{FsckRun, FsckRunOf, SHAPE_NODES};
pub use gc::{GcReport, GcSteps};
pub use gc_run::GcStage;
pub use gc_run::{GcRun, GcRunOf};
pub use io::{Source, SourceError};
pub use listing::UploadInfo;
pub use names::{Algorithm, Digest, RepoName, Tag};
pub use put::PutSession;
pub use quota::{Quota, QuotaTarget};
pub use records::Kind;
pub use registry::{BlobReader, Reference, Registry, RegistryError, Upload};
pub use registry_gc::{RegistryGcOptions, RegistryGcReport, RegistryGcRun};
pub use snapshot_space::{SnapshotSpace, SpaceRun, SPACE_NODES};
pub use snapshots::{
    Change, ChangeGroup, ChangeKind, DiffCursor, DiffPage, SnapshotInfo, WalkEntry,
    SNAPSHOT_PAGE_MAX,
};
pub use stream::{AppendStream, StreamError};
pub use upload_session::{parse_upload_id, upload_id_text, SessionError};
