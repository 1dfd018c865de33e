//! Transactions: [`Fs::atomically`] runs an operation as one block
//! transaction and undoes the in-memory roots if it fails; the root block
//! is written last in each one, with the counters it carries (clock, next
//! inode, next upload id).

use block::{Durability, Transactional};

use super::Fs;
use crate::chunks::Chunks;
use crate::error::FsError;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    pub(crate) fn now(&mut self) -> u64 {
        self.state.meta.clock = self.state.meta.clock.saturating_add(1);
        self.time.unwrap_or(self.state.meta.clock)
    }

    pub(super) fn write_root(&mut self) -> Result<(), FsError> {
        let s = &mut self.state;
        s.meta.sequence = s.meta.sequence.wrapping_add(1);
        s.meta.fs_tree = s.live.encode();
        s.meta.snapshots = s.snaps.encode();
        let content = s.content.encode_root();
        crate::received::check_content_root(
            &content,
            Some(s.meta.content_root()),
            self.dev.block_count(),
        )?;
        s.meta
            .set_content_root(&content)
            .map_err(FsError::BadRootBlock)?;
        let bytes = s.meta.encode();
        let block = self.dev.root_block(self.slot);
        self.dev.write(block, &bytes)?;
        Ok(())
    }

    /// Runs `f` as one transaction (or as part of the enclosing one): all of
    /// its changes commit together or none does.
    pub fn atomically<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, FsError>,
    ) -> Result<R, FsError> {
        if self.in_txn {
            return f(self);
        }
        let saved = self.state.clone();
        self.dev.begin()?;
        self.in_txn = true;
        let result = f(self).and_then(|r| {
            self.write_root()?;
            Ok(r)
        });
        self.in_txn = false;
        // Group commit: a commit promised durable is batched and owed,
        // unless its group closes right after it: then it is durable, and
        // so is every batched commit before it (the block store's durable
        // commit writes and flushes all journal records not yet durable).
        let grouped = self.group_commit && self.durability == Durability::Durable;
        let closing = grouped && result.is_ok() && self.take_group_closing();
        let mode = if grouped && !closing {
            Durability::Batched
        } else {
            self.durability
        };
        match result {
            Ok(r) => match self.dev.commit(mode) {
                Ok(()) => {
                    match mode {
                        // Every commit before a durable one is durable too.
                        Durability::Durable => self.unsynced = 0,
                        Durability::Batched if grouped => self.unsynced += 1,
                        Durability::Batched => {}
                    }
                    Ok(r)
                }
                Err(e) => {
                    // The commit may or may not have reached the disk; the
                    // caller should remount. Keep memory at the old state.
                    self.state = saved;
                    self.dirs.clear();
                    Err(e.into())
                }
            },
            Err(e) => {
                self.dev.abort();
                self.state = saved;
                self.dirs.clear();
                Err(e)
            }
        }
    }

    /// Whether an operation is running inside an enclosing transaction.
    pub(crate) fn in_txn(&self) -> bool {
        self.in_txn
    }

    pub(crate) fn alloc_ino(&mut self) -> u64 {
        let ino = self.state.meta.next_ino;
        self.state.meta.next_ino = ino.saturating_add(1);
        ino
    }

    pub(crate) fn alloc_upload_id(&mut self) -> u64 {
        let id = self.state.meta.next_upload;
        self.state.meta.next_upload = id.wrapping_add(1);
        id
    }
}
