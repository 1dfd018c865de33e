//! Memory reservations: each process's `mem=` (what `MEM_ALLOC` and
//! `DMA_ALLOC` may give it) is set aside at boot, so one process growing to
//! its limit can never leave another short of frames.
//!
//! The kernel does not pre-allocate the frames (most processes never use
//! their whole limit); it refuses a boot configuration whose reservations,
//! with the page tables that mapping them needs, add up to more than the
//! frames free after the programs are loaded. Since every process is held to
//! its limit, every allocation under a limit then finds a frame: the
//! reservations are real without costing memory up front.
//!
//! # Invariants
//! - `sum(reserved_frames(limit)) + KERNEL_SPARE_FRAMES <= free frames`
//!   after loading, or the system does not start.

use crate::layout::PAGE_SIZE;
use alloc::string::String;
use alloc::vec::Vec;

/// Frames kept for the kernel beyond the reservations (a margin: after boot
/// the kernel allocates only the page tables counted here).
pub const KERNEL_SPARE_FRAMES: u64 = 256;

/// Most bytes of device windows one process may map in all (`MMIO_MAP` of
/// the same window twice maps it twice); bounds the page tables a driver
/// can make the kernel allocate.
pub const MMIO_MAP_MAX: u64 = 64 << 20;

/// Bytes one page table (4 KiB) maps.
const PT_SPAN: u64 = 2 << 20;

/// Frames a process with `mem_limit` bytes may come to hold: the pages
/// themselves, a page table per 2 MiB of them, and the upper-level tables of
/// the two regions (heap and DMA) they are mapped in.
pub fn reserved_frames(mem_limit: u64) -> u64 {
    let pages = mem_limit.div_ceil(PAGE_SIZE);
    // Each region may start or end part-way into a page table: +1 each; and
    // a page directory and a PDPT per region, +1 per GiB.
    let tables = mem_limit.div_ceil(PT_SPAN) + 2 + 2 * (2 + mem_limit.div_ceil(1 << 30));
    pages + tables
}

/// Page-table frames for `MMIO_MAP_MAX` of device windows (a process with
/// `mmio=` grants): one per 2 MiB, one partial, a page directory and PDPT.
pub fn mmio_table_frames() -> u64 {
    MMIO_MAP_MAX.div_ceil(PT_SPAN) + 1 + 2
}

/// What one process reserves: its name, its `mem=` in bytes, and whether
/// the boot configuration grants it device windows.
pub type Reservation<'a> = (&'a str, u64, bool);

/// A boot configuration that reserves more than there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverCommitted {
    /// Frames the reservations (and the kernel's spare) need.
    pub need_frames: u64,
    /// Frames free after loading the programs.
    pub free_frames: u64,
    /// `name mem=MiB` of each process, for the message.
    pub by_process: Vec<(String, u64)>,
}

impl core::fmt::Display for OverCommitted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the mem= reservations need {} KiB ({} frames with their page tables and {} KiB \
             for the kernel) but only {} KiB are free after loading:",
            self.need_frames * 4,
            self.need_frames,
            KERNEL_SPARE_FRAMES * 4,
            self.free_frames * 4
        )?;
        for (name, limit) in &self.by_process {
            write!(f, " {name} mem={}", limit >> 20)?;
            if limit % (1 << 20) != 0 {
                write!(f, "+{}K", (limit % (1 << 20)) >> 10)?;
            }
        }
        write!(
            f,
            " (MiB); lower some mem= values or give the machine more RAM"
        )
    }
}

/// Checks that the limits `(name, mem_limit bytes)` fit in `free_frames`;
/// returns the frames reserved.
pub fn check_reservations(limits: &[Reservation], free_frames: u64) -> Result<u64, OverCommitted> {
    let need = limits
        .iter()
        .fold(KERNEL_SPARE_FRAMES, |acc, &(_, l, mmio)| {
            let tables = if mmio { mmio_table_frames() } else { 0 };
            acc.saturating_add(reserved_frames(l))
                .saturating_add(tables)
        });
    if need > free_frames {
        return Err(OverCommitted {
            need_frames: need,
            free_frames,
            by_process: limits
                .iter()
                .map(|&(n, l, _)| (String::from(n), l))
                .collect(),
        });
    }
    Ok(need - KERNEL_SPARE_FRAMES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const MIB: u64 = 1 << 20;

    #[test]
    fn reservation_counts_pages_and_their_page_tables() {
        assert_eq!(reserved_frames(0), 6);
        // 16 MiB: 4096 pages, 8 page tables + 2 partial, 2 x (PD + PDPT + 1 GiB).
        assert_eq!(reserved_frames(16 * MIB), 4096 + 8 + 2 + 6);
        // Never less than the pages themselves, however odd the limit.
        assert!(reserved_frames(5000) >= 2);
        assert!(reserved_frames(u64::MAX / 2) > (u64::MAX / 2) / PAGE_SIZE);
    }

    #[test]
    fn limits_that_fit_are_accepted() {
        let limits = [
            ("virtio-blk", 16 * MIB, true),
            ("block", 32 * MIB, false),
            ("fs", 48 * MIB, false),
            ("echo", 4 * MIB, false),
        ];
        let need: u64 = limits
            .iter()
            .map(|&(_, l, _)| reserved_frames(l))
            .sum::<u64>()
            + mmio_table_frames();
        assert_eq!(
            check_reservations(&limits, need + KERNEL_SPARE_FRAMES),
            Ok(need)
        );
        // The driver's device-window tables count.
        assert!(check_reservations(&limits, need + KERNEL_SPARE_FRAMES - 1).is_err());
    }

    #[test]
    fn overcommitted_configuration_is_refused_with_the_numbers() {
        // Today's test-storage-clients.cfg: 368 MiB of limits on a 256 MiB machine.
        let limits = [
            ("virtio-blk", 16 * MIB, true),
            ("block", 32 * MIB, false),
            ("content", 16 * MIB, false),
            ("fs", 48 * MIB, false),
            ("echo", 64 * MIB, false),
            ("shell", 64 * MIB, false),
            ("crasher", 64 * MIB, false),
            ("worker", 64 * MIB, false),
        ];
        let free = 60_000; // ~234 MiB
        let err = check_reservations(&limits, free).unwrap_err();
        assert_eq!(err.free_frames, free);
        assert!(err.need_frames > 368 * MIB / PAGE_SIZE);
        let text = err.to_string();
        assert!(text.contains("only 240000 KiB are free"), "{text}");
        assert!(text.contains("fs mem=48"), "{text}");
        assert!(text.contains("worker mem=64"), "{text}");
        // One frame short is refused too.
        let limits = [("a", 8 * MIB, false)];
        let exact = reserved_frames(8 * MIB) + KERNEL_SPARE_FRAMES;
        assert!(check_reservations(&limits, exact).is_ok());
        assert!(check_reservations(&limits, exact - 1).is_err());
    }

    #[test]
    fn huge_limits_are_summed_without_wrapping() {
        let one = reserved_frames(u64::MAX) + KERNEL_SPARE_FRAMES;
        assert!(check_reservations(&[("a", u64::MAX, false)], one).is_ok());
        let limits = [
            ("a", u64::MAX, true),
            ("b", u64::MAX, true),
            ("c", u64::MAX, true),
        ];
        assert!(check_reservations(&limits, one).is_err());
    }
}
