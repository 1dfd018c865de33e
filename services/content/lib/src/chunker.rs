//! Content-defined chunking: FastCDC (Xia et al., 2016/2020) with a gear
//! rolling hash and normalized chunking, streaming over arbitrary slices.
//!
//! Written here rather than taken from the `fastcdc` crate: its v2020 module
//! (checked: 5.0.0) uses `std::io` and `std::borrow` unconditionally, so it
//! does not build for our `no_std` services, and its streaming API pulls
//! from a `Read` while we are fed slices by IPC. The algorithm is small.
//!
//! # Algorithm
//! For each chunk, the first `min` bytes are skipped (never a cut point).
//! From there the gear hash `h = (h << 1) + GEAR[byte]` is updated per byte;
//! the top bits of `h` depend on the last 64 bytes only, so a cut depends on
//! local content and an insertion shifts at most the chunks around it. Below
//! `avg` bytes a cut needs `STRICT_BITS` top bits zero, from `avg` on only
//! `LOOSE_BITS` (normalization level 2), which narrows the size
//! distribution around `avg`; at `max` bytes the chunk is cut regardless.
//!
//! The gear table and the parameters are part of the format in the sense
//! that changing them changes chunk boundaries (hence dedup against chunks
//! already stored), never correctness.

/// Smallest chunk (except the last of an object).
pub const MIN_CHUNK: usize = 16 * 1024;
/// Target average chunk size.
pub const AVG_CHUNK: usize = 64 * 1024;
/// Largest chunk: bounds every buffer of the store.
pub const MAX_CHUNK: usize = 256 * 1024;

const AVG_BITS: u32 = AVG_CHUNK.trailing_zeros();
const STRICT_BITS: u32 = AVG_BITS + 2;
const LOOSE_BITS: u32 = AVG_BITS - 2;
const STRICT_MASK: u64 = !(u64::MAX >> STRICT_BITS);
const LOOSE_MASK: u64 = !(u64::MAX >> LOOSE_BITS);

const _: () = assert!(AVG_CHUNK.is_power_of_two());
const _: () = assert!(MIN_CHUNK < AVG_CHUNK && AVG_CHUNK < MAX_CHUNK);
const _: () =
    assert!(STRICT_MASK.count_ones() == STRICT_BITS && LOOSE_MASK.count_ones() == LOOSE_BITS);

/// 256 pseudo-random 64-bit values (splitmix64 from a fixed seed), computed
/// at compile time.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x6a09_e667_f3bc_c908;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// Streaming chunk-boundary finder. Feed consecutive slices of an object;
/// it says where the current chunk ends.
///
/// # Invariants
/// `len < MAX_CHUNK` between calls: a chunk is always cut at `MAX_CHUNK`.
#[derive(Clone, Debug, Default)]
pub struct Chunker {
    /// Bytes of the current chunk seen so far.
    len: usize,
    hash: u64,
}

impl Chunker {
    pub const fn new() -> Self {
        Chunker { len: 0, hash: 0 }
    }

    /// Bytes of the current (unfinished) chunk seen so far.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Scans `data`, the continuation of the current chunk. Returns
    /// `Some(n)` when the chunk ends after the first `n` bytes of `data`
    /// (the chunker then starts a new chunk at `data[n]`); `None` when all
    /// of `data` belongs to the current chunk.
    pub fn find_cut(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        // Skip to the minimum size: no cut is possible before it.
        if self.len < MIN_CHUNK {
            let skip = (MIN_CHUNK - self.len).min(data.len());
            self.len += skip;
            i = skip;
        }
        // Two scans rather than a mask chosen per byte: the hot loop stays
        // branch-light (this is most of the chunking time).
        for (bound, limit) in [(STRICT_BOUND, AVG_CHUNK - 1), (LOOSE_BOUND, MAX_CHUNK)] {
            if self.len >= limit {
                continue;
            }
            let room = (limit - self.len).min(data.len() - i);
            if let Some(j) = scan(&mut self.hash, &data[i..i + room], bound) {
                self.len = 0;
                self.hash = 0;
                return Some(i + j + 1);
            }
            self.len += room;
            i += room;
        }
        if self.len >= MAX_CHUNK {
            self.len = 0;
            self.hash = 0;
            return Some(i);
        }
        None
    }
}

/// `hash & STRICT_MASK == 0` is `hash < STRICT_BOUND` (the mask is the top
/// bits): one comparison, which a minimum over several hashes can share.
const STRICT_BOUND: u64 = 1 << (64 - STRICT_BITS);
const LOOSE_BOUND: u64 = 1 << (64 - LOOSE_BITS);
const _: () = assert!(STRICT_BOUND - 1 == !STRICT_MASK && LOOSE_BOUND - 1 == !LOOSE_MASK);

/// One gear step.
#[inline(always)]
fn roll(hash: u64, byte: u8) -> u64 {
    (hash << 1).wrapping_add(GEAR[usize::from(byte)])
}

/// Rolls `hash` over `bytes`; the index of the first byte after which it
/// is below `bound` (the hash then is that byte's), else `None` (the hash
/// then is the last byte's).
///
/// Eight bytes per round, tested once: the round's smallest hash against
/// the bound, and only a round that holds a cut is rolled again byte by
/// byte. Under QEMU's TCG every guest branch ends a translated block and
/// every guest load goes through the soft TLB, so the per-byte loop (a load
/// of the byte, a load of the table, three branches: end, overflow check,
/// cut) became one load of eight bytes, eight table loads, and one branch
/// per eight bytes. The cuts are the same (`tests/chunker_matches_reference.rs`).
#[inline(always)]
fn scan(hash: &mut u64, bytes: &[u8], bound: u64) -> Option<usize> {
    let mut h = *hash;
    let mut rounds = bytes.chunks_exact(8);
    let mut at = 0usize;
    for round in &mut rounds {
        let mut word = [0u8; 8];
        word.copy_from_slice(round);
        let word = u64::from_le_bytes(word);
        let start = h;
        let mut low = u64::MAX;
        let mut k = 0;
        while k < 8 {
            h = roll(h, (word >> (8 * k)) as u8);
            low = low.min(h);
            k += 1;
        }
        if low < bound {
            let k = cut_in_round(start, round, bound);
            *hash = roll_all(start, &round[..=k]);
            return Some(at.wrapping_add(k));
        }
        at = at.wrapping_add(8);
    }
    for (k, &byte) in rounds.remainder().iter().enumerate() {
        h = roll(h, byte);
        if h < bound {
            *hash = h;
            return Some(at.wrapping_add(k));
        }
    }
    *hash = h;
    None
}

/// Where in `round` (rolled from `start`) the hash first falls below
/// `bound`: out of line, so the hot loop keeps no copies of the round's
/// bytes for it (one round in ~8,000 holds a cut).
#[cold]
#[inline(never)]
fn cut_in_round(start: u64, round: &[u8], bound: u64) -> usize {
    let mut h = start;
    for (k, &byte) in round.iter().enumerate() {
        h = roll(h, byte);
        if h < bound {
            return k;
        }
    }
    // The caller saw a hash below the bound in this round.
    round.len() - 1
}

fn roll_all(start: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(start, |h, &b| roll(h, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Deterministic pseudo-random bytes.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn cuts_whole(data: &[u8]) -> Vec<usize> {
        let mut c = Chunker::new();
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(n) = c.find_cut(&data[at..]) {
            at += n;
            out.push(at);
        }
        out
    }

    #[test]
    fn sizes_stay_within_bounds() {
        let data = noise(8 << 20, 1);
        let cuts = cuts_whole(&data);
        let mut prev = 0;
        for &c in &cuts {
            let size = c - prev;
            assert!(
                (MIN_CHUNK..=MAX_CHUNK).contains(&size),
                "chunk of {size} bytes"
            );
            prev = c;
        }
        let avg = prev / cuts.len();
        assert!(
            (AVG_CHUNK / 2..AVG_CHUNK * 2).contains(&avg),
            "average {avg}"
        );
    }

    #[test]
    fn zeros_cut_at_max() {
        // Constant input never matches the mask; every chunk is MAX_CHUNK.
        let data = alloc::vec![0u8; 3 * MAX_CHUNK];
        assert_eq!(cuts_whole(&data), [MAX_CHUNK, 2 * MAX_CHUNK, 3 * MAX_CHUNK]);
    }

    #[test]
    fn boundaries_do_not_depend_on_slicing() {
        let data = noise(2 << 20, 2);
        let whole = cuts_whole(&data);
        for piece in [1usize, 7, 4096, 100_000] {
            let mut c = Chunker::new();
            let mut cuts = Vec::new();
            let mut chunk_start = 0;
            let mut fed = 0;
            while fed < data.len() {
                let end = (fed + piece).min(data.len());
                let mut at = fed;
                while let Some(n) = c.find_cut(&data[at..end]) {
                    at += n;
                    chunk_start = at;
                    cuts.push(at);
                }
                fed = end;
            }
            let _ = chunk_start;
            assert_eq!(cuts, whole, "pieces of {piece}");
        }
    }

    #[test]
    fn insertion_shifts_only_nearby_boundaries() {
        let data = noise(4 << 20, 3);
        let mut shifted = data[..1000].to_vec();
        shifted.extend_from_slice(b"an inserted line of text");
        shifted.extend_from_slice(&data[1000..]);
        let a = cuts_whole(&data);
        let b: Vec<usize> = cuts_whole(&shifted).iter().map(|c| c - 24).collect();
        let common = a.iter().filter(|c| b.contains(c)).count();
        assert!(
            common + 2 >= a.len(),
            "only {common} of {} boundaries survive an insertion",
            a.len()
        );
    }
}
