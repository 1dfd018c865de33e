//! Directories found in the live tree, by their directory entry's key: a
//! small put walks the same registry directories every time
//! (`/docker/registry/v2`, `blobs/sha256/ab`,
//! `repositories/<repo>/_layers/sha256`: ~11 of its ~17 tree lookups, each
//! a walk of two or three nodes whose entries are all scanned, issue #13).
//!
//! # Invariant
//! An entry is the value of the live tree's directory entry record under
//! the same key, a directory's inode number. Enforced by:
//! 1. Kept only from a lookup of the live tree (`Fs::lookup`) that found a
//!    directory.
//! 2. Directory entry records change only through `Fs::insert_dirent` and
//!    `Fs::remove_dirent`, which forget the key they write (a rename, an
//!    rmdir, a directory replaced: each names the records it changes; the
//!    entries below a moved directory are unchanged, as its inode number).
//! 3. Anything that swaps or rolls back the live tree forgets everything:
//!    a failed or aborted operation (`Fs::atomically`: its lookups may have
//!    kept directories it created), a snapshot restore, and the test-only
//!    crafted records written into the tree directly. A new mount starts
//!    empty.
//!
//! Bounded: at most [`DIR_CACHE_MAX`] entries (each a key of at most 264
//! bytes); a full cache is emptied and fills again from the next lookups.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Directories kept at most (the registry's hot ones are a few dozen, plus
/// the 256 two-hex-digit blob prefix directories).
pub const DIR_CACHE_MAX: usize = 1024;

/// Directory entry key (`records::dirent_key`) to the directory's inode.
#[derive(Default)]
pub(crate) struct DirCache {
    dirs: BTreeMap<Vec<u8>, u64>,
    stats: DirCacheStats,
}

/// Lookups answered by the cache and not, since the filesystem was mounted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirCacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl DirCache {
    /// The directory under `key`, if kept.
    pub fn get(&mut self, key: &[u8]) -> Option<u64> {
        let found = self.dirs.get(key).copied();
        match found {
            Some(_) => self.stats.hits += 1,
            None => self.stats.misses += 1,
        }
        found
    }

    /// Keeps directory `ino` under `key` (found there in the live tree).
    pub fn keep(&mut self, key: Vec<u8>, ino: u64) {
        if self.dirs.len() >= DIR_CACHE_MAX {
            self.dirs.clear();
        }
        self.dirs.insert(key, ino);
    }

    /// The record under `key` changes.
    pub fn forget(&mut self, key: &[u8]) {
        self.dirs.remove(key);
    }

    /// The live tree changes wholesale.
    pub fn clear(&mut self) {
        self.dirs.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.dirs.len()
    }

    pub fn stats(&self) -> DirCacheStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_forgotten_and_bounded() {
        let mut c = DirCache::default();
        assert_eq!(c.get(b"a"), None);
        c.keep(b"a".to_vec(), 7);
        assert_eq!(c.get(b"a"), Some(7));
        c.forget(b"a");
        assert_eq!(c.get(b"a"), None);
        for i in 0..DIR_CACHE_MAX as u64 + 1 {
            c.keep(i.to_be_bytes().to_vec(), i);
            assert!(c.len() <= DIR_CACHE_MAX);
        }
        // Full, it was emptied before the last one.
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.get(&(DIR_CACHE_MAX as u64).to_be_bytes()),
            Some(DIR_CACHE_MAX as u64)
        );
        c.clear();
        assert_eq!(c.len(), 0);
        assert_eq!(c.stats(), DirCacheStats { hits: 2, misses: 2 });
    }
}
