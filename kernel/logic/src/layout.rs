//! The virtual address space layout shared by every process.
//!
//! ```text
//! 0x0000_0000_0000_0000  unmapped (null page and below USER_IMAGE_MIN)
//! 0x0000_0000_0040_0000  program image (ELF PT_LOAD segments)
//! 0x0000_1000_0000_0000  MEM_ALLOC region (heap), grows up
//! 0x0000_2000_0000_0000  MMIO_MAP region (device windows), grows up
//! 0x0000_3000_0000_0000  DMA_ALLOC region, grows up
//! 0x0000_7FFF_FFE0_0000  user stack (USER_STACK_SIZE below USER_STACK_TOP)
//! 0x0000_8000_0000_0000  end of user space (lower half)
//! 0xFFFF_8000_0000_0000  all physical memory (direct map, kernel only)
//! 0xFFFF_FFFF_8000_0000  kernel image
//! ```

pub const PAGE_SIZE: u64 = 4096;
/// First byte user space may use (the first MiB stays unmapped to catch
/// null and near-null pointers).
pub const USER_MIN: u64 = 0x10_0000;
/// One past the last user address (the lower canonical half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
pub const USER_STACK_TOP: u64 = 0x0000_7FFF_FFFF_0000;
pub const USER_STACK_SIZE: u64 = 256 * 1024;
pub const USER_ALLOC_BASE: u64 = 0x0000_1000_0000_0000;
pub const USER_MMIO_BASE: u64 = 0x0000_2000_0000_0000;
pub const USER_DMA_BASE: u64 = 0x0000_3000_0000_0000;
/// Each region above is this large (the allocators refuse to cross it).
pub const USER_REGION_SIZE: u64 = 0x0000_1000_0000_0000;
/// ELF segments must lie below this (keeps them clear of the heap region).
pub const USER_IMAGE_END: u64 = USER_ALLOC_BASE;
pub const PHYS_OFFSET: u64 = 0xFFFF_8000_0000_0000;
pub const KERNEL_VMA: u64 = 0xFFFF_FFFF_8000_0000;

/// True when `[addr, addr + len)` lies inside user space (len 0 is allowed
/// anywhere inside). Checked without overflow.
pub fn user_range_ok(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => addr >= USER_MIN && end <= USER_END,
        None => false,
    }
}

pub fn page_floor(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary; `None` on overflow.
pub fn page_ceil(addr: u64) -> Option<u64> {
    Some(addr.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ranges_are_checked_without_overflow() {
        assert!(user_range_ok(USER_MIN, 0));
        assert!(user_range_ok(USER_END - 10, 10));
        assert!(!user_range_ok(USER_END - 10, 11));
        assert!(!user_range_ok(0, 8));
        assert!(!user_range_ok(u64::MAX - 3, 8));
        assert!(!user_range_ok(USER_MIN, u64::MAX));
        assert!(!user_range_ok(PHYS_OFFSET, 1));
    }

    #[test]
    fn page_rounding() {
        assert_eq!(page_floor(0x1fff), 0x1000);
        assert_eq!(page_ceil(0x1001), Some(0x2000));
        assert_eq!(page_ceil(0x1000), Some(0x1000));
        assert_eq!(page_ceil(u64::MAX), None);
    }
}
