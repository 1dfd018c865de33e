//! Physical frame allocator: one bit per 4 KiB frame below the highest usable
//! address of the E820 map.
//!
//! # Invariants
//! - A frame is handed out only if it lies inside a usable (type 1) region,
//!   outside every reserved range, and is not currently allocated.
//! - `free` of a frame that is not allocated is refused (double free).

use alloc::vec;
use alloc::vec::Vec;

pub const FRAME_SIZE: u64 = 4096;

/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub len: u64,
    pub kind: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not frame-aligned or beyond the managed range.
    NotAFrame(u64),
    /// The frame was not allocated.
    NotAllocated(u64),
}

/// Bit set = frame in use or unusable.
pub struct FrameAllocator {
    used: Vec<u64>,
    frames: u64,
    free: u64,
    /// Search starts here (all frames below are in use).
    hint: u64,
}

impl FrameAllocator {
    /// Frames in usable `regions`, minus `reserved` ranges (kernel image,
    /// boot modules, low memory), up to `limit` bytes of physical address.
    pub fn new(regions: &[Region], reserved: &[(u64, u64)], limit: u64) -> FrameAllocator {
        let top = regions
            .iter()
            .filter(|r| r.kind == E820_RAM)
            .map(|r| r.start.saturating_add(r.len))
            .max()
            .unwrap_or(0)
            .min(limit);
        let frames = top / FRAME_SIZE;
        let words = frames.div_ceil(64) as usize;
        let mut fa = FrameAllocator {
            used: vec![u64::MAX; words],
            frames,
            free: 0,
            hint: 0,
        };
        for r in regions.iter().filter(|r| r.kind == E820_RAM) {
            // Only whole frames inside the region.
            let first = r.start.div_ceil(FRAME_SIZE);
            let end = (r.start.saturating_add(r.len) / FRAME_SIZE).min(frames);
            for f in first..end {
                fa.set_free(f);
            }
        }
        for &(start, len) in reserved {
            let first = start / FRAME_SIZE;
            let end = start.saturating_add(len).div_ceil(FRAME_SIZE).min(frames);
            for f in first..end {
                fa.set_used(f);
            }
        }
        fa
    }

    fn is_used(&self, f: u64) -> bool {
        self.used[(f / 64) as usize] & (1 << (f % 64)) != 0
    }

    fn set_free(&mut self, f: u64) {
        if self.is_used(f) {
            self.used[(f / 64) as usize] &= !(1 << (f % 64));
            self.free += 1;
        }
    }

    fn set_used(&mut self, f: u64) {
        if !self.is_used(f) {
            self.used[(f / 64) as usize] |= 1 << (f % 64);
            self.free -= 1;
        }
    }

    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Physical address of a free frame, now allocated.
    pub fn alloc(&mut self) -> Option<u64> {
        let mut word = (self.hint / 64) as usize;
        while word < self.used.len() {
            let bits = self.used[word];
            if bits != u64::MAX {
                let f = word as u64 * 64 + (!bits).trailing_zeros() as u64;
                if f >= self.frames {
                    return None;
                }
                self.set_used(f);
                self.hint = f;
                return Some(f * FRAME_SIZE);
            }
            word += 1;
        }
        None
    }

    /// `count` physically contiguous frames (first fit), for DMA; returns the
    /// address of the first.
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<u64> {
        if count == 0 {
            return None;
        }
        let mut run_start = 0;
        let mut run_len = 0;
        for f in self.hint..self.frames {
            if self.is_used(f) {
                run_len = 0;
                continue;
            }
            if run_len == 0 {
                run_start = f;
            }
            run_len += 1;
            if run_len == count {
                for g in run_start..run_start + count {
                    self.set_used(g);
                }
                return Some(run_start * FRAME_SIZE);
            }
        }
        None
    }

    pub fn free(&mut self, addr: u64) -> Result<(), FreeError> {
        if !addr.is_multiple_of(FRAME_SIZE) || addr / FRAME_SIZE >= self.frames {
            return Err(FreeError::NotAFrame(addr));
        }
        let f = addr / FRAME_SIZE;
        if !self.is_used(f) {
            return Err(FreeError::NotAllocated(addr));
        }
        self.set_free(f);
        self.hint = self.hint.min(f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(start: u64, len: u64) -> Region {
        Region {
            start,
            len,
            kind: E820_RAM,
        }
    }

    #[test]
    fn only_usable_unreserved_whole_frames_are_handed_out() {
        let regions = [
            ram(0, 0x9F000),
            Region {
                start: 0x9F000,
                len: 0x61000,
                kind: 2,
            },
            ram(0x10_0000, 0x10_0800), // ends mid-frame
        ];
        let mut fa =
            FrameAllocator::new(&regions, &[(0, 0x10_0000), (0x10_0000, 0x2000)], u64::MAX);
        // 0x102000..0x200000 = 254 frames (the partial frame at the end is not usable).
        assert_eq!(fa.free_frames(), 254);
        let mut seen = alloc::vec::Vec::new();
        while let Some(f) = fa.alloc() {
            assert!(
                (0x102000..0x200000).contains(&f),
                "frame {f:#x} outside usable range"
            );
            assert_eq!(f % FRAME_SIZE, 0);
            seen.push(f);
        }
        assert_eq!(seen.len(), 254);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 254, "a frame was handed out twice");
        assert_eq!(fa.free_frames(), 0);
    }

    #[test]
    fn free_returns_frames_and_refuses_double_free() {
        let mut fa = FrameAllocator::new(&[ram(0x1000, 0x4000)], &[], u64::MAX);
        let a = fa.alloc().unwrap();
        let b = fa.alloc().unwrap();
        assert_ne!(a, b);
        assert_eq!(fa.free(a), Ok(()));
        assert_eq!(fa.free(a), Err(FreeError::NotAllocated(a)));
        assert_eq!(fa.free(a + 1), Err(FreeError::NotAFrame(a + 1)));
        assert_eq!(fa.free(0x100_0000), Err(FreeError::NotAFrame(0x100_0000)));
        assert_eq!(fa.alloc(), Some(a), "freed frame is reused");
    }

    #[test]
    fn contiguous_runs_skip_holes() {
        let mut fa = FrameAllocator::new(&[ram(0, 0x10_000)], &[(0x3000, 0x1000)], u64::MAX);
        // Frames 0,1,2 free, 3 reserved, 4.. free.
        assert_eq!(fa.alloc_contiguous(4), Some(0x4000));
        assert_eq!(fa.alloc_contiguous(3), Some(0));
        assert_eq!(fa.alloc_contiguous(0), None);
        assert_eq!(fa.alloc_contiguous(100), None);
        assert_eq!(fa.free_frames(), 16 - 1 - 7);
        assert_eq!(fa.alloc(), Some(0x8000));
    }

    #[test]
    fn limit_caps_the_managed_range() {
        let fa = FrameAllocator::new(&[ram(0, 0x100_0000)], &[], 0x8000);
        assert_eq!(fa.free_frames(), 8);
    }
}
