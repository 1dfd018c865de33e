//! The kernel's pure logic, kept apart from the hardware so that it runs
//! under plain `cargo test` on the host: the physical frame allocator, page
//! table construction, ELF loading plans, capability tables, death notices, the boot image
//! and its configuration, the CPUs ACPI lists (MADT), memory reservations, and typed user memory checked before every copy.
//!
//! Design principles:
//! - Simple and clear algorithms over fast and clever ones (a bitmap, a
//!   four-level walk, a linear table).
//! - Hardware is reached only through small traits (`paging::PhysMem`), so
//!   tests substitute a fake and the kernel a direct-mapped one.
//! - Everything that comes from user space or from the boot image is
//!   unverified until checked here, and a failure names the values seen.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod bootimg;
pub mod budget;
pub mod caps;
pub mod deaths;
pub mod elf;
pub mod frames;
pub mod grants;
pub mod imagemap;
pub mod layout;
pub mod madt;
pub mod paging;
pub mod rtc;
pub mod umem;
