//! Shared helpers of the integration tests.
#![allow(dead_code)]

use block::{BlockStore, Config, MemDevice};
use filesystem::{Digest, Fs, Registry};

pub type Store = BlockStore<MemDevice>;

/// A fresh block store of `blocks` 4 KiB blocks with a filesystem on it.
pub fn fresh_fs(blocks: u64) -> Fs<Store> {
    let store = BlockStore::format(MemDevice::new(blocks), Config::default()).expect("format");
    Fs::open(store, 0).expect("mkfs")
}

pub fn fresh_registry(blocks: u64) -> Registry<Store> {
    Registry::new(fresh_fs(blocks))
}

pub fn sha256(data: &[u8]) -> Digest {
    filesystem::digest::Hasher::digest_of(filesystem::Algorithm::Sha256, data)
}

/// Deterministic pseudo-random bytes (xorshift), distinct per seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn read_all(fs: &mut Fs<Store>, path: &str) -> Vec<u8> {
    fs.read_file(path, u64::MAX).expect("read")
}
