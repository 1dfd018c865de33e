//! Helpers shared by the storage stack's QEMU test clients and benchmark:
//! deterministic test data and OCI digests of it, and the small-put
//! clients several of which run at once ([`putters`]).
#![no_std]

extern crate alloc;

pub mod cpu_phase;
pub mod gc_clients;
pub mod putters;
pub mod upload_dier;

use alloc::string::String;
use core::fmt::Write as _;

/// Fills `buf` with the xorshift64* stream seeded by `seed` (never
/// repeating within a buffer: chunks of it do not deduplicate).
///
/// One 8-byte store per word, as the Linux anchor's `fill` (bjob.c): a
/// copy of a slice whose length the compiler cannot see (`chunks_mut`'s
/// last chunk may be short) was a `memcpy` call per word, about 4x the
/// cost per byte under TCG (docs/speed.md). The bytes are the same.
pub fn fill(seed: u64, buf: &mut [u8]) {
    // A bijective mix, so distinct seeds start distinct streams.
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D)
        .max(1);
    let mut next = || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes()
    };
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        word.copy_from_slice(&next());
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let v = next();
        tail.copy_from_slice(&v[..tail.len()]);
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    digest_text(&sha256tcg::digest(data))
}

/// `sha256:<hex>` of a finished hash.
pub fn digest_text(hash: &[u8]) -> String {
    let mut s = String::from("sha256:");
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Seconds since boot (timer ticks, 100 Hz).
pub fn seconds() -> f64 {
    let (ticks, hz) = userlib::sys::ticks();
    ticks as f64 / hz as f64
}
