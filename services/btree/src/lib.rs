//! Copy-on-write B+tree over block transactions, with O(1) snapshots.
#![cfg_attr(not(test), no_std)]

extern crate alloc;
