//! The glue between virtio-drivers and this kernel, shared by the ring-3
//! virtio drivers (`virtio-blk`, `virtio-net`): `hal` is the crate's `Hal`
//! on `DMA_ALLOC`/`DMA_FREE`/`MMIO_MAP` (with zero-copy redirects and a
//! bounce pool), `pci` its `ConfigurationAccess` over the ECAM pages the boot
//! configuration granted.
//!
//! Design principles:
//! - A driver touches only what its boot configuration granted: a device
//!   whose configuration page `MMIO_MAP` refuses does not exist for it.
//! - Memory from `DMA_ALLOC` is handed to the device in place; anything else
//!   the crate shares is bounced through DMA memory, never assumed
//!   contiguous.
//! - One process, one thread: the global state sits behind spin locks only
//!   because the trait's functions are free functions.
#![no_std]

extern crate alloc;

pub mod hal;
pub mod pci;
