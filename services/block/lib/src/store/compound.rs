//! The running compound transaction (jbd2's running transaction): the
//! batched commits not yet written to the journal, journaled together as
//! ONE journal transaction, so a block that several of them wrote is
//! journaled once, with its latest image.
//!
//! A `Batched` commit moves its images into the cache at once (later reads
//! see them) and its blocks join the compound; nothing is encoded. A block
//! already in the compound is replaced: the later image wins, and the CRC
//! read off its seal follows the latest image (or is dropped when the
//! latest one was not written sealed). The compound is encoded as one
//! transaction, under one sequence number, when it must be written:
//! `BlockStore::write_pending_then` closes it, and every path that writes
//! journal records goes through there (a `Durable` commit, which joins it
//! first so its own writes close it; `sync`; a checkpoint; the group bound
//! `Config::group_commit_blocks`; journal space running short before a
//! commit joins). The ordered-data flush of fresh data comes before its
//! records as before: a commit that wrote fresh data sets
//! `fresh_unflushed` when it joins.
//!
//! Why the store's guarantee holds (crate root, "Crash guarantee"):
//! - The compound's images wait in the cache, dirty under the sequence
//!   number the compound will get: `next_seq`, which nothing else takes
//!   before it closes (it is the only thing ever encoded). That is above
//!   `durable_seq` until its record is flushed, so `write_home` leaves them
//!   alone (the one ordering rule).
//! - Every commit before the compound is in an earlier journal transaction,
//!   and recovery replays transactions in order, each all or nothing: it
//!   gives the state after a prefix of the commits that ends at a compound
//!   boundary. Merging commits nobody was told were durable loses no
//!   acknowledged work: a `Durable` commit returns only after the compound
//!   holding it (and every earlier one) was flushed.
//! - The open transaction is not in the compound until it commits, so
//!   `abort` undoes it alone.
//!
//! The log holds nothing new: a compound is a transaction with more images,
//! encoded by `journal::encode_transaction_into` and replayed as any other.
//!
//! # Invariants
//! - Every block in `blocks` has a dirty cache entry under `next_seq`
//!   holding the latest image a commit wrote there; `blocks` maps it to the
//!   CRC-32C read off that image's seal, if it was written sealed.
//! - `blocks` is empty exactly when no commit with journaled writes joined
//!   since the last close.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::BlockStore;
use crate::journal;
use crate::BlockDevice;

/// The batched commits not yet written to the journal (module doc).
#[derive(Default)]
pub(super) struct Compound {
    /// Block -> the CRC-32C of its latest image when read off its seal.
    blocks: BTreeMap<u64, Option<u32>>,
}

impl Compound {
    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Journal blocks it takes when written (0 when empty).
    pub(super) fn journal_blocks(&self) -> u64 {
        Self::blocks_for(self.blocks.len() as u64)
    }

    /// Journal blocks it would take with `writes` (a commit's) joined.
    pub(super) fn journal_blocks_with(&self, writes: &BTreeMap<u64, Box<[u8]>>) -> u64 {
        let new = writes
            .keys()
            .filter(|b| !self.blocks.contains_key(b))
            .count();
        Self::blocks_for((self.blocks.len() + new) as u64)
    }

    fn blocks_for(images: u64) -> u64 {
        if images == 0 {
            0
        } else {
            journal::blocks_needed(images)
        }
    }

    /// A commit's journaled `writes` join: a block already in it is
    /// replaced, its seal's CRC from `known_crcs` or none.
    pub(super) fn join(
        &mut self,
        writes: &BTreeMap<u64, Box<[u8]>>,
        known_crcs: &BTreeMap<u64, u32>,
    ) {
        for &block in writes.keys() {
            self.blocks.insert(block, known_crcs.get(&block).copied());
        }
    }

    /// Forgets `block` (a later unjournaled write replaced its image).
    pub(super) fn forget(&mut self, block: u64) {
        self.blocks.remove(&block);
    }
}

impl<D: BlockDevice> BlockStore<D> {
    /// Closes the compound: encodes it as transaction `next_seq` into the
    /// buffer of records not yet written (`pending`), its images read from
    /// the cache, and takes its journal space. The caller writes the
    /// records (`write_pending_then`). Answers whether there was anything
    /// to encode.
    pub(super) fn close_compound(&mut self) -> bool {
        if self.compound.is_empty() {
            return false;
        }
        let seq = self.next_seq;
        let blocks = core::mem::take(&mut self.compound.blocks);
        let images: Vec<journal::Image<'_>> = blocks
            .iter()
            .filter_map(|(&home, &crc)| {
                let bytes = self.cache.dirty_image(home, seq);
                // The invariant above: its commit left it dirty under `seq`.
                debug_assert!(
                    bytes.is_some(),
                    "compound block {home} not dirty in the cache"
                );
                Some(journal::Image {
                    home,
                    bytes: bytes?,
                    crc,
                })
            })
            .collect();
        if images.is_empty() {
            return false;
        }
        let need = journal::blocks_needed(images.len() as u64);
        self.stats.journal_images += images.len() as u64;
        self.stats.journal_sealed_images +=
            images.iter().filter(|i| i.crc.is_some()).count() as u64;
        self.stats.journal_transactions += 1;
        // Encoded straight into the buffer of records not yet written.
        journal::encode_transaction_into(
            &mut self.pending,
            self.sb.journal_epoch,
            seq,
            self.durable_seq,
            &images,
        );
        drop(images);
        self.head = (self.head + need) % self.sb.journal_blocks;
        self.used += need;
        self.next_seq += 1;
        true
    }
}
