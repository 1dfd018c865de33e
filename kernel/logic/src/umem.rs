//! Typed user memory (after Hubris's `USlice`). A pointer and length from a
//! process are an allegation; here they become a [`UserSlice`] (the kernel
//! reads it) or a [`UserSliceMut`] (the kernel writes it). Constructing one
//! checks the range alone (no overflow, inside the user half); the memory
//! behind it can only be reached through the copy methods, and every copy
//! first walks the process's own page table and refuses a page that is not
//! present, not `USER`, device memory, or (for a write) not `WRITABLE`. So "checked before
//! use" holds by type: there is no other way to the bytes.
//!
//! The copies go through [`PhysBytes`] (the kernel's direct map; a fake in
//! tests), never through the user's pointer: frame by frame, or for a lease
//! copy over a linear direct map in runs of physically contiguous frames
//! ([`copy_between`]).
//!
//! # Invariants
//! - A slice's fields are private; `addr + len` does not overflow and lies in
//!   `USER_MIN..=USER_END` (so the address is canonical and in the lower half).
//! - A copy touches nothing unless every page of its range passed the check.

use crate::layout::{page_floor, user_range_ok, PAGE_SIZE};
use crate::paging::{translate, PhysMem, Translation, Walker, DEVICE, USER, WRITABLE};
use core::marker::PhantomData;
use core::mem::size_of;

/// Why a user range was refused; each names the values seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserMemError {
    /// `count` values of `size` bytes from `addr` wrap around the address space.
    Overflow { addr: u64, count: u64, size: u64 },
    /// `[addr, addr + len)` leaves user space (null page, kernel half, or a
    /// non-canonical address).
    NotUser { addr: u64, len: u64 },
    /// The page at `page` is not mapped for the process (or not `USER`).
    Unmapped { page: u64 },
    /// The kernel would write to the read-only page at `page`.
    ReadOnly { page: u64 },
    /// The page at `page` is device memory (MMIO) where RAM is needed: the
    /// kernel copies RAM only, and a device is pointed at RAM only.
    Device { page: u64 },
    /// A piece `[offset, offset + count)` outside a slice of `len` values, or
    /// a kernel buffer whose length differs from the slice's.
    OutOfSlice { offset: u64, count: u64, len: u64 },
}

impl From<UserMemError> for abi::Error {
    fn from(_: UserMemError) -> abi::Error {
        abi::Error::BadAddress
    }
}

/// Plain data the kernel may copy to and from user memory as bytes.
///
/// # Safety
/// The type is `repr(C)` (or a primitive) of integers only: no padding, no
/// pointers, every bit pattern a valid value.
pub unsafe trait Plain: Copy + Default {}

// Safety: a byte.
unsafe impl Plain for u8 {}
// Safety: `repr(C)`, every field a `u64` (asserted 112 bytes in `abi`).
unsafe impl Plain for abi::Message {}
// Safety: `repr(C)`, a `u64` then 24 bytes (asserted 32 bytes in `abi`).
unsafe impl Plain for abi::CpuTime {}

/// Byte access to physical memory: the kernel's direct map, a fake in tests.
///
/// # Safety
/// For any physical address a user leaf maps, `byte_ptr(paddr)` points at
/// that byte, valid for reads and writes up to the end of its 4 KiB frame,
/// and no Rust reference to those bytes is live while a copy runs. If
/// `LINEAR`, the pointers of physically consecutive frames are consecutive
/// too (`byte_ptr(p) + k == byte_ptr(p + k)`), so one pointer reaches
/// across them.
pub unsafe trait PhysBytes: PhysMem {
    /// Whether a copy may run across physically contiguous frames in one
    /// piece (the direct map); otherwise each piece ends at a frame's end.
    const LINEAR: bool = false;
    fn byte_ptr(&mut self, paddr: u64) -> *mut u8;
}

/// A checked byte range of user space (see the invariants above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    addr: u64,
    len: u64,
}

impl Range {
    fn new(addr: u64, count: u64, size: u64) -> Result<Range, UserMemError> {
        let len = count
            .checked_mul(size)
            .filter(|len| addr.checked_add(*len).is_some())
            .ok_or(UserMemError::Overflow { addr, count, size })?;
        // Below USER_END means canonical and in the lower half.
        if !user_range_ok(addr, len) {
            return Err(UserMemError::NotUser { addr, len });
        }
        Ok(Range { addr, len })
    }

    /// Every page present, `USER`, RAM (not `DEVICE`) and `WRITABLE` if
    /// `write`, in `root`.
    /// The walk stops at the first bad page, so its cost is bounded by what
    /// the process has mapped.
    fn check<M: PhysMem>(&self, mem: &mut M, root: u64, write: bool) -> Result<(), UserMemError> {
        self.check_by(mem, write, |mem, page| translate(mem, root, page))
    }

    /// `check` with the page walk `translate` (a [`Walker`] for the many
    /// pages of a lease copy; a message's page or two are cheaper walked
    /// whole than through a `Walker`'s bookkeeping).
    fn check_by<M: PhysMem>(
        &self,
        mem: &mut M,
        write: bool,
        mut translate: impl FnMut(&mut M, u64) -> Option<Translation>,
    ) -> Result<(), UserMemError> {
        if self.len == 0 {
            return Ok(());
        }
        let end = self.addr + self.len;
        let mut page = page_floor(self.addr);
        while page < end {
            let flags = translate(mem, page).map_or(0, |t| t.flags);
            if flags & USER == 0 {
                return Err(UserMemError::Unmapped { page });
            }
            if write && flags & WRITABLE == 0 {
                return Err(UserMemError::ReadOnly { page });
            }
            // The kernel copies RAM only: a device window may lie outside
            // the direct map, and reading a register can have effects.
            if flags & DEVICE != 0 {
                return Err(UserMemError::Device { page });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Physical address of each page-bounded piece, with its offset in the
    /// range and its length. Only after `check`.
    fn pieces<M: PhysBytes>(
        &self,
        mem: &mut M,
        root: u64,
        mut f: impl FnMut(*mut u8, usize, usize),
    ) -> Result<(), UserMemError> {
        let mut done = 0u64;
        while done < self.len {
            let va = self.addr + done;
            let n = (PAGE_SIZE - va % PAGE_SIZE).min(self.len - done);
            let t = translate(mem, root, va).ok_or(UserMemError::Unmapped {
                page: page_floor(va),
            })?;
            f(mem.byte_ptr(t.paddr), done as usize, n as usize);
            done += n;
        }
        Ok(())
    }

    fn sub(&self, offset: u64, count: u64, size: u64) -> Result<Range, UserMemError> {
        let len = self.len / size;
        if offset.checked_add(count).is_none_or(|end| end > len) {
            return Err(UserMemError::OutOfSlice { offset, count, len });
        }
        Ok(Range {
            addr: self.addr + offset * size,
            len: count * size,
        })
    }

    /// The physical address of the first byte and how many bytes from there
    /// are physically contiguous RAM with the permission (at most `max`).
    fn phys_run<M: PhysMem>(
        &self,
        mem: &mut M,
        root: u64,
        write: bool,
        max: u64,
    ) -> Result<(u64, u64), UserMemError> {
        let need = if write { USER | WRITABLE } else { USER };
        let mut walk = Walker::new(root);
        let mut usable = |page: u64, mem: &mut M| -> Result<u64, UserMemError> {
            let t = walk
                .translate(mem, page)
                .ok_or(UserMemError::Unmapped { page })?;
            if t.flags & USER == 0 {
                return Err(UserMemError::Unmapped { page });
            }
            if t.flags & need != need {
                return Err(UserMemError::ReadOnly { page });
            }
            if t.flags & DEVICE != 0 {
                return Err(UserMemError::Device { page });
            }
            Ok(t.paddr)
        };
        if self.len == 0 {
            return Err(UserMemError::OutOfSlice {
                offset: 0,
                count: 1,
                len: 0,
            });
        }
        let first = page_floor(self.addr);
        let paddr = usable(first, mem)? + (self.addr - first);
        let limit = self.len.min(max);
        let mut run = PAGE_SIZE - self.addr % PAGE_SIZE;
        while run < limit {
            match usable(self.addr + run, mem) {
                Ok(next) if next == paddr + run => run += PAGE_SIZE,
                _ => break,
            }
        }
        Ok((paddr, run.min(limit)))
    }
}

/// The physical address of user address `va` (in a range already checked)
/// and how many bytes from there, at most `max`, one piece of a copy may
/// take: to the end of the page, or with a `LINEAR` [`PhysBytes`] to the
/// end of the physically contiguous run of pages.
#[inline(always)]
fn contiguous<M: PhysBytes>(
    mem: &mut M,
    walk: &mut Walker,
    va: u64,
    max: u64,
) -> Result<(u64, u64), UserMemError> {
    let unmapped = |va: u64| UserMemError::Unmapped {
        page: page_floor(va),
    };
    let paddr = walk.translate(mem, va).ok_or_else(|| unmapped(va))?.paddr;
    let mut run = PAGE_SIZE - va % PAGE_SIZE;
    if M::LINEAR {
        while run < max {
            match walk.translate(mem, va + run) {
                Some(t) if t.paddr == paddr + run => run += PAGE_SIZE,
                _ => break,
            }
        }
    }
    Ok((paddr, run.min(max)))
}

fn as_bytes<T: Plain>(values: &[T]) -> &[u8] {
    // Safety: `T: Plain` has no padding; the slice covers exactly its values.
    unsafe {
        core::slice::from_raw_parts(values.as_ptr() as *const u8, core::mem::size_of_val(values))
    }
}

fn as_bytes_mut<T: Plain>(values: &mut [T]) -> &mut [u8] {
    // Safety: `T: Plain` accepts every bit pattern; exactly its values.
    unsafe {
        core::slice::from_raw_parts_mut(
            values.as_mut_ptr() as *mut u8,
            core::mem::size_of_val(values),
        )
    }
}

fn same_len(range: &Range, size: usize, n: usize) -> Result<(), UserMemError> {
    if range.len != (size * n) as u64 {
        return Err(UserMemError::OutOfSlice {
            offset: 0,
            count: n as u64,
            len: range.len / size as u64,
        });
    }
    Ok(())
}

/// `count` values of `T` at a user address, which the kernel may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice<T: Plain> {
    range: Range,
    _values: PhantomData<fn() -> T>,
}

/// `count` values of `T` at a user address, which the kernel may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSliceMut<T: Plain> {
    range: Range,
    _values: PhantomData<fn(T)>,
}

macro_rules! common {
    ($ty:ident, $write:expr) => {
        impl<T: Plain> $ty<T> {
            /// The allegation `count` values at `addr`: refused if it wraps or
            /// leaves user space. Nothing is read yet.
            pub fn new(addr: u64, count: u64) -> Result<Self, UserMemError> {
                Ok($ty {
                    range: Range::new(addr, count, size_of::<T>() as u64)?,
                    _values: PhantomData,
                })
            }

            /// One value at `addr`.
            pub fn one(addr: u64) -> Result<Self, UserMemError> {
                Self::new(addr, 1)
            }

            pub fn addr(&self) -> u64 {
                self.range.addr
            }

            /// Number of values.
            pub fn count(&self) -> u64 {
                self.range.len / size_of::<T>() as u64
            }

            /// Values `[offset, offset + count)` of this slice.
            pub fn sub(&self, offset: u64, count: u64) -> Result<Self, UserMemError> {
                Ok($ty {
                    range: self.range.sub(offset, count, size_of::<T>() as u64)?,
                    _values: PhantomData,
                })
            }

            /// Checks every page in the process with page table `root`
            /// (each copy does this too; call it to refuse a call before it
            /// has any effect).
            pub fn check<M: PhysMem>(&self, mem: &mut M, root: u64) -> Result<(), UserMemError> {
                self.range.check(mem, root, $write)
            }

            /// The physical address of the first value and the bytes from
            /// there that are physically contiguous RAM the process may
            /// access this way (at most `max`): for DMA to or from it.
            pub fn phys_run<M: PhysMem>(
                &self,
                mem: &mut M,
                root: u64,
                max: u64,
            ) -> Result<(u64, u64), UserMemError> {
                self.range.phys_run(mem, root, $write, max)
            }
        }
    };
}

common!(UserSlice, false);
common!(UserSliceMut, true);

impl<T: Plain> UserSlice<T> {
    /// Copies the slice into `out` (of exactly `count` values).
    pub fn read_into<M: PhysBytes>(
        &self,
        mem: &mut M,
        root: u64,
        out: &mut [T],
    ) -> Result<(), UserMemError> {
        same_len(&self.range, size_of::<T>(), out.len())?;
        self.range.check(mem, root, false)?;
        let out = as_bytes_mut(out);
        self.range.pieces(mem, root, |src, off, n| {
            // Safety: `src` is n bytes of a checked user page (PhysBytes).
            unsafe { core::ptr::copy_nonoverlapping(src, out[off..off + n].as_mut_ptr(), n) }
        })
    }

    /// The first value.
    pub fn read_value<M: PhysBytes>(&self, mem: &mut M, root: u64) -> Result<T, UserMemError> {
        let mut value = [T::default()];
        self.sub(0, 1)?.read_into(mem, root, &mut value)?;
        Ok(value[0])
    }
}

impl<T: Plain> UserSliceMut<T> {
    /// Copies `data` (exactly `count` values) into the slice.
    pub fn write_from<M: PhysBytes>(
        &self,
        mem: &mut M,
        root: u64,
        data: &[T],
    ) -> Result<(), UserMemError> {
        same_len(&self.range, size_of::<T>(), data.len())?;
        self.range.check(mem, root, true)?;
        let data = as_bytes(data);
        self.range.pieces(mem, root, |dst, off, n| {
            // Safety: `dst` is n bytes of a checked, writable user page.
            unsafe { core::ptr::copy_nonoverlapping(data[off..off + n].as_ptr(), dst, n) }
        })
    }

    /// Writes `value` as the first value.
    pub fn write_value<M: PhysBytes>(
        &self,
        mem: &mut M,
        root: u64,
        value: &T,
    ) -> Result<(), UserMemError> {
        self.sub(0, 1)?
            .write_from(mem, root, core::slice::from_ref(value))
    }
}

/// Copies `src` in the address space `src_root` to `dst` (same length) in
/// `dst_root`, both checked first (nothing is copied if either is bad).
///
/// The copy goes in pieces that are physically contiguous on both sides:
/// within a page, or with a `LINEAR` [`PhysBytes`] (the direct map) across
/// as many physically consecutive pages as both sides have (the kernel
/// hands out a process's frames in address order, so a heap buffer is
/// mostly one run). Each piece is one `memmove`. Why (docs/speed.md, "Lease
/// copies"): source and destination rarely share their offset in a page,
/// and per page-bounded piece every 4 KiB cost two pieces, each with its two
/// page walks and a `memmove` call with its unaligned ends; under TCG that
/// overhead was as large as the copy. Each page is walked twice per side
/// (check, then the run), with [`Walker`]'s cached last-level table.
pub fn copy_between<M: PhysBytes>(
    mem: &mut M,
    src_root: u64,
    src: &UserSlice<u8>,
    dst_root: u64,
    dst: &UserSliceMut<u8>,
) -> Result<(), UserMemError> {
    same_len(&dst.range, 1, src.range.len as usize)?;
    let (mut src_walk, mut dst_walk) = (Walker::new(src_root), Walker::new(dst_root));
    src.range
        .check_by(mem, false, |mem, page| src_walk.translate(mem, page))?;
    dst.range
        .check_by(mem, true, |mem, page| dst_walk.translate(mem, page))?;
    let (s0, d0, len) = (src.range.addr, dst.range.addr, src.range.len);
    // The current run of each side: its physical address and bytes left.
    let (mut from, mut to) = ((0u64, 0u64), (0u64, 0u64));
    let mut done = 0u64;
    while done < len {
        if from.1 == 0 {
            from = contiguous(mem, &mut src_walk, s0 + done, len - done)?;
        }
        if to.1 == 0 {
            to = contiguous(mem, &mut dst_walk, d0 + done, len - done)?;
        }
        let n = from.1.min(to.1);
        let (s, d) = (mem.byte_ptr(from.0), mem.byte_ptr(to.0));
        // Safety: both pieces lie inside checked user RAM pages (the
        // destination writable), physically contiguous, so reachable from
        // one pointer (`contiguous` crosses frames only when `LINEAR`);
        // `copy` allows overlap (a lease of the caller's own buffer).
        unsafe { core::ptr::copy(s, d, n as usize) };
        from = (from.0 + n, from.1 - n);
        to = (to.0 + n, to.1 - n);
        done += n;
    }
    Ok(())
}

#[cfg(test)]
#[path = "umem_tests.rs"]
mod tests;
