//! The optional data checksum table (`checksums.rs` has its layout), read
//! and written through the open transaction: entries set with the data
//! they describe, checked on every read.

use alloc::boxed::Box;
use alloc::vec;

use super::BlockStore;
use crate::checksums;
use crate::error::{Corruption, Error};
use crate::{BlockDevice, Extent, BLOCK_SIZE};

impl<D: BlockDevice> BlockStore<D> {
    /// Checksum table block `index` as the open transaction (or the
    /// committed state) sees it, checked.
    fn table_block(&mut self, index: u64) -> Result<Box<[u8]>, Error> {
        let home = self.sb.checksum_start + index;
        if let Some(t) = self.txn.as_ref().and_then(|t| t.writes.get(&home)) {
            return Ok(t.clone());
        }
        if let Some(t) = self.cache.get(home) {
            let t: Box<[u8]> = t.into();
            checksums::check(home, index, &t)?;
            return Ok(t);
        }
        let mut buf = vec![0u8; BLOCK_SIZE];
        match self.overlay.get(&home) {
            Some(image) => buf.copy_from_slice(image),
            None => self.dev.read(home, &mut buf)?,
        }
        checksums::check(home, index, &buf)?;
        self.cache.insert_clean(home, &buf);
        Ok(buf.into_boxed_slice())
    }

    /// Sets the checksum entry of every block of `range` to `value(block)`
    /// in the open transaction (no-op without data checksums).
    pub(super) fn set_checksums(
        &mut self,
        range: Extent,
        value: impl Fn(u64) -> u32,
    ) -> Result<(), Error> {
        if !self.sb.data_checksums() || range.len == 0 {
            return Ok(());
        }
        let mut b = range.start;
        while b < range.end() {
            let (index, _) = checksums::locate(b);
            let mut table = self.table_block(index)?;
            while b < range.end() && checksums::locate(b).0 == index {
                checksums::set_entry(&mut table, checksums::locate(b).1, value(b));
                b += 1;
            }
            checksums::seal(&mut table);
            let home = self.sb.checksum_start + index;
            self.txn_mut()?.put(home, table, None);
        }
        Ok(())
    }

    /// Checks `buf` (blocks `first..`) against the checksum table; a
    /// mismatch is an error naming the block, and `buf` is zeroed so the
    /// damaged bytes are not handed out.
    pub(super) fn verify_checksums(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        if !self.sb.data_checksums() {
            return Ok(());
        }
        let mut table: Option<(u64, Box<[u8]>)> = None;
        let mut bad = None;
        for (i, data) in buf.chunks_exact(BLOCK_SIZE).enumerate() {
            let block = first + i as u64;
            if block < self.sb.root_start || !self.alloc.is_allocated(block) {
                continue;
            }
            let (index, slot) = checksums::locate(block);
            let stored = match &table {
                Some((t, image)) if *t == index => checksums::entry(image, slot),
                _ => {
                    let image = self.table_block(index)?;
                    let e = checksums::entry(&image, slot);
                    table = Some((index, image));
                    e
                }
            };
            if stored != checksums::NONE {
                let computed = checksums::data_checksum(data);
                if computed != stored {
                    bad = Some(Error::Corrupt {
                        block,
                        detail: Corruption::Checksum { stored, computed },
                    });
                    break;
                }
            }
        }
        match bad {
            Some(e) => {
                buf.fill(0);
                Err(e)
            }
            None => Ok(()),
        }
    }
}
