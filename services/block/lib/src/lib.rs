//! Crash-safe transactional block store: devices, superblock, allocator, write-ahead journal, cache, fsck.
#![cfg_attr(not(test), no_std)]

extern crate alloc;
