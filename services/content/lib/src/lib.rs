//! BLAKE3 content-addressed chunk store with dedup, streaming I/O and GC.
//!
//! Objects (registry blobs, file contents) are cut into content-defined
//! chunks; each chunk is named by its BLAKE3 hash ([`ChunkRef`]) and stored
//! once, however many objects contain it. The owner (the filesystem) keeps
//! the sequence of `ChunkRef`s of each object; this crate stores and
//! verifies the chunks.
//!
//! # Chunking: content-defined (FastCDC), min 16 KiB, avg 64 KiB, max 256 KiB
//! Registry content is layers and files that recur with small edits:
//! rebuilt layers, the same file at a different offset in another tar.
//! Fixed-size chunks dedup such data only when the shared part starts at the
//! same offset modulo the chunk size; content-defined boundaries move with
//! the content, so shifted data dedups too (an insertion changes about one
//! or two chunks). FastCDC finds boundaries about 10x faster than Rabin CDC
//! at nearly the same dedup ratio (see `shared/notes/anchors.md`), and costs
//! little next to BLAKE3. 64 KiB on average keeps the index small (one
//! 24-byte entry per chunk) while a 256 KiB maximum bounds every buffer. See
//! `chunker.rs` for why it is implemented here.
//!
//! # Design principles
//! - Simple over clever: one chunk = one extent of whole blocks, written
//!   once with `write_fresh` and never modified; the index is a `cowbtree`
//!   keyed by the hash; the index insert and the counters change in the same
//!   transaction as the data.
//! - Never return bad data: every read hashes the whole chunk and compares
//!   before handing out a byte; a mismatch names the chunk and its block.
//! - Bounded memory: the writer and the reader hold one chunk (at most
//!   [`MAX_CHUNK`] bytes); GC marks take one bit per block of the store.
//! - The caller owns transactions and roots: the store never begins or
//!   commits; its state is [`ContentRoot`], 96 bytes that the owner persists
//!   with its own roots in the same transaction as each change
//!   ([`ContentStore::encode_root`] / [`ContentStore::open`]). It does not
//!   use a block root slot.
//!
//! # Invariants
//! - Each index entry names an allocated extent used by no other entry,
//!   holding bytes whose BLAKE3 is the entry's key, zero-padded to a block.
//! - The counters in [`ContentRoot`] are the sums over the index entries.
//! - Both hold after every committed transaction, so after any crash
//!   ([`ContentStore::check`] verifies them).
//!
//! # Crash cases
//! The block layer makes each transaction all or nothing and writes
//! `write_fresh` data durably before the commit record that covers it.
//! 1. Crash before a put's commit is durable: the transaction is lost whole:
//!    the extent's allocation, the index entry and the counters roll back
//!    together; the data blocks written are free again, nothing references
//!    them.
//! 2. Crash after it: the index entry names an extent whose bytes were
//!    durable before the entry was; reads verify them anyway.
//! 3. Crash during a sweep: each step removes entries, frees their extents
//!    and updates the counters in one transaction; a crash keeps whole steps
//!    only. The sweep's position is not persisted: the owner runs a new
//!    collection, which marks again.
//! 4. Crash after `begin_gc`'s commit but before the sweep: the epoch has
//!    advanced, nothing was removed; the next collection starts another.
//! 5. Crash while a writer holds a piece (`ChunkWriter::take_with`: taken,
//!    maybe hashed, not stored): nothing of it was written, allocated or
//!    indexed, so every committed state is one of 1-4's; the piece is lost
//!    like the unfinished chunk a writer holds in memory. Its owner never
//!    committed a reference to it: references come from the call that
//!    stores the chunks (the writer's next one).
//!
//! The crash tests (`tests/crash_during_puts_and_sweeps.rs`) check exactly
//! these outcomes at every flush and sampled points between, with unflushed
//! writes dropped, kept, reordered and torn.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod batch;
mod check_pages;
mod chunk_ref;
pub mod chunker;
mod content_root;
mod error;
mod gc;
mod index_cache;
mod index_entry;
mod locate;
mod reader;
mod store;
mod writer;

pub use batch::{Cut, PutCuts};
pub use check_pages::{Findings, PagedCheck, CHECK_PAGE_NODES};
pub use chunk_ref::{ChunkRef, ChunkRefDecodeError, Hex};
pub use chunker::{Chunker, AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
pub use content_root::{ContentRoot, ContentRootDecodeError};
pub use error::{Error, GcError, GetError, PutError};
pub use gc::{ChunkMarks, GcEpoch, Sweep, SweepReport};
pub use index_cache::{IndexCache, IndexCacheStats, INDEX_CACHE_BLOCKS};
pub use index_entry::{IndexEntry, IndexEntryDecodeError};
pub use reader::ObjectReader;
pub use store::{ChunkBuf, ContentCheckReport, ContentStats, ContentStore, VISIT_PAGE};
pub use writer::{ChunkWriter, LayoutBuf, LAYOUT_BYTES, WINDOW};
