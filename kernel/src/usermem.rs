//! The kernel's side of typed user memory (`kernel_logic::umem`): a user
//! pointer and length become a `UserSlice` (read by the kernel) or a
//! `UserSliceMut` (written by it), whose only access is a copy checked page
//! by page against the process's own page table. The copies reach the
//! frames through the direct map, never through the user's pointer.

use crate::memory::{phys_to_virt, DirectMap};
use kernel_logic::umem::PhysBytes;
pub use kernel_logic::umem::{copy_between, UserSlice, UserSliceMut};

// Safety: every physical frame is direct-mapped read-write (memory::init),
// at `PHYS_OFFSET + paddr`, so the pointer is valid to the end of the frame
// and consecutive frames are consecutive in the map (`LINEAR`); the kernel
// holds no reference into user frames while it copies (single-threaded,
// interrupts off).
unsafe impl PhysBytes for DirectMap {
    const LINEAR: bool = true;
    fn byte_ptr(&mut self, paddr: u64) -> *mut u8 {
        phys_to_virt(paddr)
    }
}
