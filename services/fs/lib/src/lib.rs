//! Filesystem, OCI registry layout and API, snapshots, GC and fsck.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod digest;
pub mod layout;
pub mod link;
pub mod names;
pub mod records;
pub mod root;
