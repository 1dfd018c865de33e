//! BLAKE3 (unkeyed, 32-byte output) of a whole byte slice, tuned for QEMU
//! TCG: the content store's chunk ids and chunk verification.
//!
//! Why hand-written (issue #13, docs/speed.md "BLAKE3 under TCG"): the
//! `blake3` crate's portable compression ran at 86–91 MB per CPU-second of
//! QEMU against 129–153 for BLAKE3's portable C in the same Linux guest.
//! The cause is one instruction: x86 `rol`/`ror` leave the carry and
//! overflow flags defined, and TCG computes a rotate's flags with a helper
//! call (`cc_compute_all`) unless a later flag-setting instruction makes
//! them dead first. LLVM schedules a spill or reload (a memory access,
//! where TCG must have the flags ready) right after 126 of the 224 rotates
//! of a block; gcc after 17. Here every rotate's flags are dead inside
//! its `asm!` block: three of G's four rotates are followed by G's next
//! add in the same block, the fourth by a `test`: 186–197 MB/cpu-s for
//! the compression (2.2x the crate), the whole hash 1.1–1.5x the C.
//! (A `test` after each rotate, as first written, cost 5–7 % more: 224
//! `test`s per block and a zero-extension after each 32-bit add and xor,
//! which the blocks' 64-bit forms avoid; docs/speed.md "The hashes'
//! memory accesses under TCG".)
//!
//! # Design principles
//! - Only what the store needs: the default hash mode, 32 bytes out, one
//!   call over bytes already in memory (chunks are at most a few hundred
//!   KiB). No keyed/derive modes, no XOF, no incremental hasher; the
//!   `blake3` crate stays for those (fs digests `blake3:`).
//! - Bit-identical to the `blake3` crate: chunk ids are on disk. The
//!   tests compare every length 0..=17409 (across the 64-byte block, the
//!   1024-byte chunk and the tree's levels) and lengths past 1 MiB.
//! - The reference implementation's structure (spec section 5.1.2): chunk
//!   chaining values pushed on a stack, merged when the chunk count says a
//!   subtree is complete, the last chunk folded in with ROOT on the top
//!   node. The stack is a fixed array: 54 levels cover 2^64 bytes.
//! - Few TCG ops per G: in the `asm!` blocks the xors and adds are 64-bit
//!   (TCG zero-extends every 32-bit result), only the rotates 32-bit (they
//!   read the low halves; the compiler reads the outputs as `u32`).
//! - Other architectures get `rotate_right`; only x86-64 uses `asm!`, and
//!   a host test holds the plain G equal to the `asm!` one.
#![no_std]

mod compress;

use compress::{compress, IV};

const BLOCK_LEN: usize = 64;
const CHUNK_LEN: usize = 1024;
const CHUNK_START: u32 = 1 << 0;
const CHUNK_END: u32 = 1 << 1;
const PARENT: u32 = 1 << 2;
const ROOT: u32 = 1 << 3;
/// Tree depth for inputs up to 2^64 bytes (2^54 chunks).
const MAX_DEPTH: usize = 54;

/// The BLAKE3 hash of `data`, the same as `blake3::hash(data).as_bytes()`.
pub fn hash(data: &[u8]) -> [u8; 32] {
    let cv = if data.len() <= CHUNK_LEN {
        chunk_cv(data, 0, ROOT)
    } else {
        let mut stack = [[0u32; 8]; MAX_DEPTH];
        let mut depth = 0;
        // Every chunk but the last: the last (1..=1024 bytes) is folded in
        // below so the top node gets ROOT.
        let last_start = (data.len() - 1) / CHUNK_LEN * CHUNK_LEN;
        let mut counter: u64 = 0;
        for chunk in data[..last_start].chunks_exact(CHUNK_LEN) {
            let mut cv = chunk_cv(chunk, counter, 0);
            counter += 1;
            // A completed subtree for each trailing zero bit of the count.
            let mut total = counter;
            while total & 1 == 0 {
                depth -= 1;
                cv = parent_cv(&stack[depth], &cv, 0);
                total >>= 1;
            }
            stack[depth] = cv;
            depth += 1;
        }
        let mut right = chunk_cv(&data[last_start..], counter, 0);
        while depth > 0 {
            depth -= 1;
            let root = if depth == 0 { ROOT } else { 0 };
            right = parent_cv(&stack[depth], &right, root);
        }
        right
    };
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(cv) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The chaining value of one chunk (0..=1024 bytes; empty only as the
/// whole input), `root` = ROOT when the chunk is the whole input.
fn chunk_cv(chunk: &[u8], counter: u64, root: u32) -> [u32; 8] {
    let mut cv = IV;
    let mut flags = CHUNK_START;
    let mut rest = chunk;
    // Full blocks that are not the chunk's last.
    while let Some((block, tail)) = rest.split_first_chunk::<BLOCK_LEN>() {
        if tail.is_empty() {
            break;
        }
        compress(&mut cv, block, BLOCK_LEN as u32, counter, flags);
        flags = 0;
        rest = tail;
    }
    let flags = flags | CHUNK_END | root;
    if let Ok(block) = <&[u8; BLOCK_LEN]>::try_from(rest) {
        // A full last block (every chunk but the input's last): no copy.
        compress(&mut cv, block, BLOCK_LEN as u32, counter, flags);
    } else {
        let mut last = [0u8; BLOCK_LEN];
        last[..rest.len()].copy_from_slice(rest);
        compress(&mut cv, &last, rest.len() as u32, counter, flags);
    }
    cv
}

fn parent_cv(left: &[u32; 8], right: &[u32; 8], root: u32) -> [u32; 8] {
    let mut block = [0u8; BLOCK_LEN];
    for (bytes, word) in block.chunks_exact_mut(4).zip(left.iter().chain(right)) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    let mut cv = IV;
    compress(&mut cv, &block, BLOCK_LEN as u32, 0, PARENT | root);
    cv
}

#[cfg(test)]
mod tests {
    use super::hash;

    #[test]
    fn empty_input_hashes_to_the_published_vector() {
        // BLAKE3 of "" from the spec's test vectors.
        let want = [
            0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6, 0xa0, 0x40, 0x4d, 0xea, 0x36, 0xdc,
            0xc9, 0x49, 0x9b, 0xcb, 0x25, 0xc9, 0xad, 0xc1, 0x12, 0xb7, 0xcc, 0x9a, 0x93, 0xca,
            0xe4, 0x1f, 0x32, 0x62,
        ];
        assert_eq!(hash(b""), want);
    }
}
