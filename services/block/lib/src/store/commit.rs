//! How commits reach the disk: fresh (unjournaled) data gathered and sent
//! in batches, batched commits gathered in the running compound
//! (`compound.rs`) and written as one journal transaction,
//! flushes in the order the journal's rules demand, journaled blocks
//! written home only once durable, and checkpoints that move the tail.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::txn::AllocOp;
use super::{BlockStore, FRESH_WRITE_BACK_BYTES};
use crate::bitmap;
use crate::device::write_sorted;
use crate::error::Error;
use crate::journal;
use crate::superblock::{self, Superblock};
use crate::{BlockDevice, Durability, IoRequest, Transactional, BLOCK_SIZE};

impl<D: BlockDevice> BlockStore<D> {
    /// Gathers one `write_fresh` in the fresh buffer, first sending what is
    /// buffered when the new write overlaps it (the later write must land
    /// last) or would take the buffer past its bound. A write larger than
    /// the bound goes to the device at once.
    pub(super) fn buffer_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        let limit = self.fresh_limit_bytes();
        let blocks = (data.len() / BLOCK_SIZE) as u64;
        self.make_room_for_fresh(first, blocks, data.len())?;
        if data.len() > limit {
            self.dev.write(first, data)?;
            self.stats.fresh_direct_bytes += data.len() as u64;
        } else {
            self.fresh.push(first, data, limit);
            self.stats.fresh_copied_bytes += data.len() as u64;
        }
        Ok(())
    }

    /// The fresh buffer's bound in bytes.
    pub(super) fn fresh_limit_bytes(&self) -> usize {
        usize::try_from(self.fresh_limit_blocks)
            .unwrap_or(usize::MAX)
            .saturating_mul(BLOCK_SIZE)
    }

    /// Sends what is buffered when a write of `len` bytes to `first..`
    /// (`blocks` blocks) overlaps it (the later write must land last) or
    /// would take the buffer past its bound.
    pub(super) fn make_room_for_fresh(
        &mut self,
        first: u64,
        blocks: u64,
        len: usize,
    ) -> Result<(), Error> {
        if self.fresh.overlaps(first, blocks)
            || self.fresh.bytes().saturating_add(len) > self.fresh_limit_bytes()
        {
            self.send_fresh()?;
        }
        Ok(())
    }

    /// Whether `write_back_fresh` would send: a transaction is open and its
    /// fresh buffer holds [`FRESH_WRITE_BACK_BYTES`] or half its bound,
    /// whichever is less (a large upload's piece; small puts' few blocks
    /// wait for their commit).
    pub fn fresh_write_back_due(&self) -> bool {
        let due = FRESH_WRITE_BACK_BYTES.min(self.fresh_limit_bytes() / 2);
        self.txn.is_some() && !self.fresh.is_empty() && self.fresh.bytes() >= due
    }

    /// Sends the open transaction's buffered fresh data now, when it holds
    /// at least half the buffer's bound; true if it did. The block service
    /// calls this when no request waits, so the device writes while its
    /// clients hash the next piece, instead of at the start of the next
    /// fresh write that finds the buffer full (its client waited for that
    /// write). Sending early changes no guarantee: fresh data is referenced
    /// by nothing before the commit, whose ordered-data flush covers it
    /// either way, and an aborted transaction's fresh blocks were never
    /// referenced. A failed write turns the store read-only (`guarded`): the
    /// data stays buffered and the commit fails.
    pub fn write_back_fresh(&mut self) -> Result<bool, Error> {
        if !self.fresh_write_back_due() {
            return Ok(false);
        }
        self.usable()?;
        self.guarded(|s| s.send_fresh())?;
        self.stats.fresh_write_backs += 1;
        Ok(true)
    }

    /// Sends the fresh buffer to the device as one batch and empties it.
    pub(super) fn send_fresh(&mut self) -> Result<(), Error> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let mut batch = self.fresh.requests();
        self.dev.submit(&mut batch)?;
        drop(batch);
        self.fresh.clear();
        Ok(())
    }

    /// Writes the running compound as one journal transaction (after
    /// making fresh data durable).
    fn write_pending(&mut self) -> Result<(), Error> {
        self.write_pending_then(false)
    }

    /// `write_pending`; with `durable`, the records are flushed as well
    /// and `durable_seq` follows: when they are one run of the journal
    /// (they wrap its end only now and then) the write and the flush are
    /// one device request (`write_durable`: one call to the disk driver
    /// per Durable commit instead of two).
    fn write_pending_then(&mut self, durable: bool) -> Result<(), Error> {
        if self.compound.is_empty() {
            return Ok(());
        }
        if self.fresh_unflushed {
            // Ordered data: fresh blocks are durable before any commit record
            // that makes them reachable is written.
            self.dev.flush()?;
            self.fresh_unflushed = false;
        }
        let pending_at = self.head;
        if !self.close_compound() {
            return Ok(());
        }
        let jb = self.sb.journal_blocks;
        let blocks = (self.pending.len() / BLOCK_SIZE) as u64;
        let first_part = blocks.min(jb - pending_at);
        let (a, b) = self.pending.split_at(first_part as usize * BLOCK_SIZE);
        let at = self.sb.journal_start + pending_at;
        let flushed = durable && b.is_empty();
        let written = if flushed {
            self.dev.write_durable(at, a)
        } else {
            let mut batch = vec![IoRequest::Write { first: at, data: a }];
            if !b.is_empty() {
                batch.push(IoRequest::Write {
                    first: self.sb.journal_start,
                    data: b,
                });
            }
            self.dev.submit(&mut batch)
        };
        // The buffer keeps its capacity for the next compound.
        self.pending.clear();
        written?;
        self.written_seq = self.next_seq - 1;
        if flushed {
            self.durable_seq = self.written_seq;
        }
        Ok(())
    }

    /// Makes every commit so far durable.
    pub(super) fn sync_journal(&mut self) -> Result<(), Error> {
        self.write_pending_then(true)?;
        if self.durable_seq < self.written_seq {
            self.dev.flush()?;
            self.durable_seq = self.written_seq;
        }
        Ok(())
    }

    /// THE ordering rule, in the one place that writes journaled blocks to
    /// their home: only images whose commit is durable are written.
    fn write_home(&mut self) -> Result<(), Error> {
        let mut set = self.cache.dirty_through(self.durable_seq);
        if set.is_empty() {
            return Ok(());
        }
        write_sorted(&mut self.dev, &mut set)?;
        let blocks: Vec<u64> = set.iter().map(|(b, _)| *b).collect();
        for b in blocks {
            self.cache.mark_clean(b);
        }
        Ok(())
    }

    /// Makes every commit durable, writes every journaled block home and
    /// moves the journal tail to the head: the journal is empty afterwards
    /// and blocks freed by committed transactions become reusable.
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.usable()?;
        self.guarded(|s| {
            s.sync_journal()?;
            s.write_home()?;
            if s.used == 0 && !s.reserved_waiting {
                return Ok(());
            }
            s.dev.flush()?;
            let sb = Superblock {
                generation: s.sb.generation + 1,
                journal_tail: s.head,
                journal_tail_seq: s.next_seq,
                ..s.sb
            };
            // Both copies before any journal space is reused (superblock.rs).
            s.sb = superblock::write_pair(&mut s.dev, sb)?;
            s.used = 0;
            s.stats.checkpoints += 1;
            // Frees of committed transactions are durable and no journal
            // record older than them is live: their blocks may be reused.
            s.alloc.release_all_reserved();
            s.reserved_waiting = false;
            if let Some(txn) = &s.txn {
                for op in &txn.ops {
                    if let AllocOp::Freed(e) = op {
                        s.alloc.reserve(*e, true);
                    }
                }
            }
            s.cache.evict_clean();
            Ok(())
        })
    }

    pub(super) fn do_commit(&mut self, durability: Durability) -> Result<(), Error> {
        let bitmap_start = self.sb.bitmap_start;
        let dirty_bitmap = self.alloc.take_dirty();
        let Some(txn) = self.txn.as_mut() else {
            return Err(Error::NoTransaction);
        };
        for i in dirty_bitmap {
            let image = bitmap::encode_block(i, self.alloc.block_words(i));
            txn.put(bitmap_start + i, Box::new(image), None);
        }
        let need = journal::blocks_needed(txn.writes.len() as u64);
        if need > self.sb.journal_blocks {
            self.abort();
            return Err(Error::TransactionTooLarge {
                journal_blocks_needed: need,
                journal_blocks: self.sb.journal_blocks,
            });
        }
        // Ordered data: the transaction's fresh blocks reach the device now,
        // so the flush before its commit record (`write_pending`) covers them.
        self.send_fresh()?;
        let Some(txn) = self.txn.as_ref() else {
            return Err(Error::NoTransaction);
        };
        // Journal space for the compound with this commit joined: when it
        // would not fit behind the live transactions, checkpoint first,
        // which writes the compound as it stands and empties the journal
        // (this commit alone fits: checked above).
        if !txn.writes.is_empty()
            && self.used + self.compound.journal_blocks_with(&txn.writes) > self.sb.journal_blocks
        {
            // Still open during this checkpoint, so its own frees stay
            // reserved: they are not durable until its records are.
            self.checkpoint()?;
        }
        let Some(txn) = self.txn.take() else {
            return Err(Error::NoTransaction);
        };
        if txn.ops.iter().any(|op| matches!(op, AllocOp::Freed(_))) {
            self.reserved_waiting = true;
        }
        if !txn.writes.is_empty() {
            // It joins the running compound (compound.rs): its images are
            // dirty under the sequence number the compound will be written
            // with, which is not durable before its record is flushed.
            let seq = self.next_seq;
            self.compound.join(&txn.writes, &txn.known_crcs);
            if txn.wrote_fresh {
                self.fresh_unflushed = true;
            }
            // The images move into the cache (no copy).
            for (block, image) in txn.writes {
                if let Some(old) = self.cache.insert_dirty(block, image, seq) {
                    self.recycle(old);
                }
            }
        }
        match durability {
            Durability::Durable => {
                // Closes the compound with this commit's own writes in it.
                self.sync_journal()?;
                self.stats.commits_durable += 1;
            }
            Durability::Batched => {
                if self.compound.journal_blocks() >= self.config.group_commit_blocks {
                    self.write_pending()?;
                }
                self.stats.commits_batched += 1;
            }
        }
        // The written journal filling up (the compound's space is checked
        // before each commit joins it), or dirty images crowding the cache
        // (the compound's among them).
        if self.cache.dirty_count() > self.cache.capacity() / 2
            || self.used > self.sb.journal_blocks / 4 * 3
        {
            self.checkpoint()?;
        }
        self.cache.evict_clean();
        Ok(())
    }
}
