//! Up-front checks of a request's length: a client announcing more bytes
//! than the disk has free, or than the configured per-request limit, is
//! refused before any work starts (nothing staged, nothing hashed), with an
//! error naming the numbers.
//!
//! The free-space check costs no call to the block service in the common
//! case (issue #13: it was one of a small put's ~17): a length within the
//! free count the block client's last commit answered
//! ([`Transactional::free_blocks_known`]) passes on it; anything else, and
//! every refusal, is decided on the count asked for now. That count is
//! exact for the fs's own state (its commit answers it after every
//! allocation of the transaction, the content service's as its delegate
//! included); another holder's transaction since could make it stale, and
//! then a request that no longer fits is let through — the check is a
//! courtesy: the allocation itself fails cleanly (`NoSpace`, the
//! transaction aborted, nothing lost), and no request is ever refused on
//! a stale count.
//!
//! A request that passes still proceeds in bounded steps: puts, appends and
//! uploads are written piece by piece (one transaction each, at most
//! `fs_api::PIECE` bytes), and growing a file stores a hole (O(1) whatever
//! its length, see [`crate::records`]).

use block::{Transactional, BLOCK_SIZE};

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::Fs;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Sets the largest length one request may announce (default: no limit
    /// other than free space).
    pub fn set_request_limit(&mut self, max: u64) {
        self.request_limit = max;
    }

    /// The largest length one request may announce.
    pub fn request_limit(&self) -> u64 {
        self.request_limit
    }

    /// Refuses a request (`what`: "put", "append", "blob put", ...) of
    /// `len` bytes longer than the limit or than the free space.
    pub fn check_request_length(&mut self, what: &'static str, len: u64) -> Result<(), FsError> {
        if len > self.request_limit {
            return Err(FsError::RequestTooLarge {
                what,
                len,
                limit: self.request_limit,
            });
        }
        if len > 0 {
            let known = self.dev.free_blocks_known();
            if known.is_some_and(|blocks| len <= blocks.saturating_mul(BLOCK_SIZE as u64)) {
                return Ok(());
            }
            let free = self.stats()?.free_bytes;
            if len > free {
                return Err(FsError::NoRoom { what, len, free });
            }
        }
        Ok(())
    }
}
