//! SHA-256, tuned for QEMU TCG: the fs service's digest of every uploaded
//! byte (`sha256:` blob names), the registry's manifest digests and the
//! fs benches.
//!
//! Why hand-written (issue #13, docs/speed.md "SHA-256 under TCG"):
//! SHA-256 was about half of a 32 MiB put's cycles, and the `sha2` crate's
//! soft backend (0.10.9) ran at 48–53 MB per CPU-second of QEMU in the
//! guest (~50–68 MB/s wall) against 79.5 MB/s for OpenSSL's scalar x86-64
//! code in a Linux guest under the same QEMU. That backend emulates the
//! SHA-NI instructions on `[u32; 4]` vectors: 3,466 instructions and 380
//! stack accesses per block, and under TCG every guest instruction and
//! every memory access (a soft-TLB lookup) costs. Its `force-soft-compact`
//! loop measured 56–60 MB/cpu-s. This crate: 2,860 instructions and 238
//! stack accesses per block, 106–123 MB/cpu-s (2.1–2.4x the crate).
//!
//! # Design principles
//! - The state in registers: a fully unrolled scalar round (OpenSSL's
//!   instruction sequence) whose eight working variables are renamed, not
//!   moved, and stay in general registers for the whole block; the round
//!   constants are immediates; the message schedule is a rolling 16-word
//!   ring, each word computed where its round uses it. What touches memory
//!   per block is the input and the ring.
//! - No rotate's flags live: x86 `ror` leaves CF/OF defined and TCG
//!   computes them with a helper call when a memory access follows before
//!   another flag-setting instruction (see `blake3tcg`). Each round and
//!   each schedule sigma is one `asm!` block in which every `ror` is
//!   followed by a flag-setting `xor`/`add`, so no `test` is needed
//!   (`ror` + `test` per rotate, as in `blake3tcg`, ran 23 % slower).
//! - Few TCG ops per instruction: only the rotates and shifts are 32-bit;
//!   the moves, adds and logic ops are 64-bit (TCG zero-extends the result
//!   of every 32-bit operation; garbage in the upper halves is never read).
//! - Bit-identical to `sha2::Sha256`: blobs are named by this digest. The
//!   tests compare every length 0..=1100, long inputs, every fixed piece
//!   size 1..=130 and random `update` splits, and the FIPS 180-4 vectors.
//! - Only SHA-256: the fs keeps `sha2` for SHA-512 and the host tests keep
//!   it as the oracle. Other architectures get plain Rust rounds, which
//!   a host test checks against the `asm!` ones.
#![no_std]

mod compress;

use compress::{compress, IV};

const BLOCK_LEN: usize = 64;

/// An incremental SHA-256: `update` any number of times, then `finalize`.
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// Bytes of a block not yet compressed (`buffered` of them).
    buffer: [u8; BLOCK_LEN],
    buffered: usize,
    /// Blocks compressed so far.
    blocks: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub const fn new() -> Sha256 {
        Sha256 {
            state: IV,
            buffer: [0; BLOCK_LEN],
            buffered: 0,
            blocks: 0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if self.buffered > 0 {
            let take = (BLOCK_LEN - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK_LEN {
                return;
            }
            compress(&mut self.state, core::slice::from_ref(&self.buffer));
            self.blocks += 1;
            self.buffered = 0;
        }
        // Whole blocks straight from the caller's bytes: no copy.
        let (blocks, rest) = data.as_chunks::<BLOCK_LEN>();
        compress(&mut self.state, blocks);
        self.blocks += blocks.len() as u64;
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The digest of everything passed to `update`.
    pub fn finalize(mut self) -> [u8; 32] {
        // Padding (FIPS 180-4 section 5.1.1): 0x80, zeros, then the
        // message length in bits as a big-endian u64 at the end of a block.
        let bits = (self.blocks * BLOCK_LEN as u64 + self.buffered as u64) * 8;
        let n = self.buffered;
        self.buffer[n] = 0x80;
        self.buffer[n + 1..].fill(0);
        if n + 1 > BLOCK_LEN - 8 {
            compress(&mut self.state, core::slice::from_ref(&self.buffer));
            self.buffer = [0; BLOCK_LEN];
        }
        self.buffer[BLOCK_LEN - 8..].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, core::slice::from_ref(&self.buffer));
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// The SHA-256 of `data`, the same as `sha2::Sha256::digest(data)`.
pub fn digest(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::digest;

    /// FIPS 180-4 example: SHA-256("abc").
    #[test]
    fn abc_hashes_to_the_published_vector() {
        let want = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(digest(b"abc"), want);
    }
}
