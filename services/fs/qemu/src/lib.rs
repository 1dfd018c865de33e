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
use sha2::{Digest as _, Sha256};

/// Fills `buf` with the xorshift64* stream seeded by `seed` (never
/// repeating within a buffer: chunks of it do not deduplicate).
pub fn fill(seed: u64, buf: &mut [u8]) {
    // A bijective mix, so distinct seeds start distinct streams.
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D)
        .max(1);
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    digest_text(&Sha256::digest(data))
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
