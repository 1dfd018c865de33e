//! BLAKE3 content-addressed chunk store with dedup, streaming I/O and GC.
#![cfg_attr(not(test), no_std)]

extern crate alloc;
