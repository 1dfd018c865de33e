//! The C symbols LLVM calls for copies, fills and compares, strong definitions that
//! override compiler-builtins' weak ones (bare-metal target only).

use core::ffi::c_int;

/// # Safety
/// C `memcpy`: `src` valid for reads, `dst` for writes of `n` bytes, no overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the C contract above is `copy_forward`'s (no overlap at all).
    unsafe { crate::copy_forward_ret(dst, src, n) }
}

/// # Safety
/// C `memmove`: `src` valid for reads, `dst` for writes of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Safety: the C contract above is `copy_any`'s.
    unsafe { crate::copy_any_ret(dst, src, n) }
}

/// # Safety
/// C `memcmp`: `a` and `b` valid for reads of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    // Safety: the C contract above is `compare`'s.
    unsafe { crate::compare(a, b, n) }
}

/// # Safety
/// C `bcmp`: `a` and `b` valid for reads of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    // Safety: the C contract above is `differ`'s.
    unsafe { crate::differ(a, b, n) }
}

/// # Safety
/// C `memset`: `dst` valid for writes of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: c_int, n: usize) -> *mut u8 {
    // Safety: the C contract above is `fill`'s; C stores `c` as a byte.
    unsafe { crate::fill(dst, c as u8, n) };
    dst
}
