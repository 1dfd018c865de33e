//! How the kernel image is mapped: W^X. The linker script puts `.text`,
//! `.rodata` and `.data`/`.bss` on page boundaries; the kernel maps them
//! with 4 KiB pages as read-execute, read-only and read-write no-execute, and
//! the direct map's alias of the text and rodata frames read-only, so no
//! kernel address is both writable and executable.
//!
//! # Invariants
//! - For every page the kernel maps: not (`WRITABLE` and executable).

use crate::paging::{GLOBAL, NO_EXECUTE, WRITABLE};

/// Page-aligned bounds of the image's parts, as virtual addresses at
/// `KERNEL_VMA` (from the linker script's symbols).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSections {
    /// Start of `.text`.
    pub start: u64,
    /// End of `.text`, start of `.rodata`.
    pub text_end: u64,
    /// End of `.rodata`, start of `.data`.
    pub rodata_end: u64,
    /// End of `.bss`.
    pub end: u64,
}

impl ImageSections {
    /// The flags of the image page at `va`, or `None` outside the image.
    pub fn page_flags(&self, va: u64) -> Option<u64> {
        if va < self.start || va >= self.end {
            None
        } else if va < self.text_end {
            Some(GLOBAL)
        } else if va < self.rodata_end {
            Some(GLOBAL | NO_EXECUTE)
        } else {
            Some(GLOBAL | WRITABLE | NO_EXECUTE)
        }
    }

    /// The flags of the direct map's page at physical `phys`, given the
    /// image's offset `vma` (virtual = vma + physical): never executable,
    /// and read-only over the text and rodata frames.
    pub fn direct_map_flags(&self, vma: u64, phys: u64) -> u64 {
        let (lo, hi) = (self.start - vma, self.rodata_end - vma);
        if (lo..hi).contains(&phys) {
            GLOBAL | NO_EXECUTE
        } else {
            GLOBAL | WRITABLE | NO_EXECUTE
        }
    }

    /// True when the bounds are ordered and page-aligned.
    pub fn well_formed(&self) -> bool {
        let aligned = [self.start, self.text_end, self.rodata_end, self.end]
            .iter()
            .all(|a| a % 4096 == 0);
        aligned
            && self.start <= self.text_end
            && self.text_end <= self.rodata_end
            && self.rodata_end <= self.end
    }
}

/// True when effective `flags` allow both writing and executing.
pub fn writable_and_executable(flags: u64) -> bool {
    flags & WRITABLE != 0 && flags & NO_EXECUTE == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::KERNEL_VMA;

    const S: ImageSections = ImageSections {
        start: KERNEL_VMA + 0x107000,
        text_end: KERNEL_VMA + 0x11d000,
        rodata_end: KERNEL_VMA + 0x120000,
        end: KERNEL_VMA + 0x94a000,
    };

    #[test]
    fn no_image_page_is_writable_and_executable() {
        assert!(S.well_formed());
        let mut va = S.start;
        while va < S.end {
            let f = S.page_flags(va).unwrap();
            assert!(!writable_and_executable(f), "{va:#x}: {f:#x}");
            let phys = va - KERNEL_VMA;
            assert!(!writable_and_executable(
                S.direct_map_flags(KERNEL_VMA, phys)
            ));
            va += 4096;
        }
    }

    #[test]
    fn text_executes_rodata_reads_data_writes() {
        assert_eq!(S.page_flags(S.start), Some(GLOBAL));
        assert_eq!(S.page_flags(S.text_end - 4096), Some(GLOBAL));
        assert_eq!(S.page_flags(S.text_end), Some(GLOBAL | NO_EXECUTE));
        assert_eq!(
            S.page_flags(S.rodata_end),
            Some(GLOBAL | WRITABLE | NO_EXECUTE)
        );
        assert_eq!(
            S.page_flags(S.end - 1),
            Some(GLOBAL | WRITABLE | NO_EXECUTE)
        );
        assert_eq!(S.page_flags(S.end), None);
        assert_eq!(S.page_flags(S.start - 4096), None);
        // The direct map's alias of text and rodata cannot be written.
        assert_eq!(
            S.direct_map_flags(KERNEL_VMA, 0x107000),
            GLOBAL | NO_EXECUTE
        );
        assert_eq!(
            S.direct_map_flags(KERNEL_VMA, 0x11f000),
            GLOBAL | NO_EXECUTE
        );
        assert_eq!(
            S.direct_map_flags(KERNEL_VMA, 0x120000),
            GLOBAL | WRITABLE | NO_EXECUTE
        );
        assert_eq!(
            S.direct_map_flags(KERNEL_VMA, 0),
            GLOBAL | WRITABLE | NO_EXECUTE
        );
    }

    #[test]
    fn the_old_mapping_is_caught() {
        // Before: the image was one writable, executable 2 MiB mapping.
        assert!(writable_and_executable(GLOBAL | WRITABLE));
        let bad = ImageSections {
            text_end: S.start + 100,
            ..S
        };
        assert!(!bad.well_formed());
    }
}
