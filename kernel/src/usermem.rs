//! Copies between user memory and the kernel, or between two processes.
//! A user pointer and length are an allegation until every page of the range
//! is found mapped with `USER` (and `WRITABLE` when the kernel will write) in
//! that process's own page table; the copy goes through the direct map, never
//! through the user's pointer.

use crate::memory::{phys_to_virt, DirectMap};
use abi::Error;
use kernel_logic::layout::{page_floor, user_range_ok, PAGE_SIZE};
use kernel_logic::paging::{translate, USER, WRITABLE};

/// Checks that `[addr, addr + len)` is mapped user memory in `root` (writable
/// if `write`). The walk stops at the first bad page, so its cost is bounded
/// by what the process has mapped.
pub fn check(root: u64, addr: u64, len: u64, write: bool) -> Result<(), Error> {
    if !user_range_ok(addr, len) {
        return Err(Error::BadAddress);
    }
    if len == 0 {
        return Ok(());
    }
    let need = if write { USER | WRITABLE } else { USER };
    let mut page = page_floor(addr);
    let end = addr + len;
    while page < end {
        match translate(&mut DirectMap, root, page) {
            Some(t) if t.flags & need == need => {}
            _ => return Err(Error::BadAddress),
        }
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Calls `f(kernel_pointer, offset, chunk_len)` for each page-bounded piece of
/// a range already `check`ed.
fn for_each_chunk(root: u64, addr: u64, len: u64, mut f: impl FnMut(*mut u8, usize, usize)) {
    let mut done = 0u64;
    while done < len {
        let va = addr + done;
        let in_page = PAGE_SIZE - (va % PAGE_SIZE);
        let n = in_page.min(len - done);
        let Some(t) = translate(&mut DirectMap, root, va) else {
            // Ranges are checked first and user mappings never shrink while
            // a process lives, so this cannot happen.
            log::error!("usermem: {va:#x} vanished after the check");
            return;
        };
        f(phys_to_virt(t.paddr), done as usize, n as usize);
        done += n;
    }
}

pub fn copy_from_user(root: u64, addr: u64, out: &mut [u8]) -> Result<(), Error> {
    check(root, addr, out.len() as u64, false)?;
    for_each_chunk(root, addr, out.len() as u64, |src, off, n| {
        // Safety: `src` is n bytes of a checked, mapped user page (direct map).
        unsafe { core::ptr::copy_nonoverlapping(src, out[off..off + n].as_mut_ptr(), n) }
    });
    Ok(())
}

pub fn copy_to_user(root: u64, addr: u64, data: &[u8]) -> Result<(), Error> {
    check(root, addr, data.len() as u64, true)?;
    for_each_chunk(root, addr, data.len() as u64, |dst, off, n| {
        // Safety: `dst` is n bytes of a checked, writable user page.
        unsafe { core::ptr::copy_nonoverlapping(data[off..off + n].as_ptr(), dst, n) }
    });
    Ok(())
}

pub fn read_struct<T: Copy>(root: u64, addr: u64) -> Result<T, Error> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // Safety: T is plain data (abi structs: integers only), every bit
    // pattern valid; the slice covers exactly the value's bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(value.as_mut_ptr() as *mut u8, core::mem::size_of::<T>())
    };
    copy_from_user(root, addr, bytes)?;
    // Safety: fully written by the copy above.
    Ok(unsafe { value.assume_init() })
}

pub fn write_struct<T: Copy>(root: u64, addr: u64, value: &T) -> Result<(), Error> {
    // Safety: viewing a plain-data value as its bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>())
    };
    copy_to_user(root, addr, bytes)
}

/// Copies `len` bytes from `src` in address space `src_root` to `dst` in
/// `dst_root`, both checked first (nothing is copied if either is bad). The
/// copy goes frame to frame through the direct map, in pieces that cross
/// neither a source nor a destination page boundary.
pub fn copy_between(
    src_root: u64,
    src: u64,
    dst_root: u64,
    dst: u64,
    len: u64,
) -> Result<(), Error> {
    check(src_root, src, len, false)?;
    check(dst_root, dst, len, true)?;
    let mut done = 0u64;
    while done < len {
        let (s, d) = (src + done, dst + done);
        let n = (len - done)
            .min(PAGE_SIZE - s % PAGE_SIZE)
            .min(PAGE_SIZE - d % PAGE_SIZE);
        let (Some(ts), Some(td)) = (
            translate(&mut DirectMap, src_root, s),
            translate(&mut DirectMap, dst_root, d),
        ) else {
            // Checked above; user mappings never shrink while a process lives.
            log::error!("usermem: {s:#x} or {d:#x} vanished after the check");
            return Err(Error::BadAddress);
        };
        // Safety: both pieces are inside checked, mapped user pages (the
        // destination writable); `copy` allows them to overlap (a device page
        // mapped twice).
        unsafe { core::ptr::copy(phys_to_virt(ts.paddr), phys_to_virt(td.paddr), n as usize) };
        done += n;
    }
    Ok(())
}
