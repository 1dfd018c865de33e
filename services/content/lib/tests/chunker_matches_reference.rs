//! The chunker cuts exactly where the per-byte chunker it replaced cut
//! (chunk ids, and dedup against chunks already stored, depend on it): on
//! random bytes, on bytes built to put a cut (or a near-cut) at every
//! offset around the minimum, the normalization point and the maximum, and
//! whatever the sizes of the slices it is fed.
//!
//! The oracle, `reference`, is the previous `content::chunker` verbatim
//! (one byte per step, one test per byte).

use content::{Chunker, AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};

mod reference {
    //! The per-byte FastCDC chunker as it was before the eight-byte scan.
    pub const MIN_CHUNK: usize = 16 * 1024;
    pub const AVG_CHUNK: usize = 64 * 1024;
    pub const MAX_CHUNK: usize = 256 * 1024;

    const AVG_BITS: u32 = AVG_CHUNK.trailing_zeros();
    const STRICT_BITS: u32 = AVG_BITS + 2;
    const LOOSE_BITS: u32 = AVG_BITS - 2;
    pub const STRICT_MASK: u64 = !(u64::MAX >> STRICT_BITS);
    pub const LOOSE_MASK: u64 = !(u64::MAX >> LOOSE_BITS);

    pub const GEAR: [u64; 256] = {
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

    #[derive(Clone, Debug, Default)]
    pub struct Chunker {
        len: usize,
        hash: u64,
    }

    impl Chunker {
        pub fn find_cut(&mut self, data: &[u8]) -> Option<usize> {
            let mut i = 0;
            if self.len < MIN_CHUNK {
                let skip = (MIN_CHUNK - self.len).min(data.len());
                self.len += skip;
                i = skip;
            }
            for (mask, limit) in [(STRICT_MASK, AVG_CHUNK - 1), (LOOSE_MASK, MAX_CHUNK)] {
                if self.len >= limit {
                    continue;
                }
                let room = (limit - self.len).min(data.len() - i);
                let mut hash = self.hash;
                for (j, &byte) in data[i..i + room].iter().enumerate() {
                    hash = (hash << 1).wrapping_add(GEAR[usize::from(byte)]);
                    if hash & mask == 0 {
                        self.len = 0;
                        self.hash = 0;
                        return Some(i + j + 1);
                    }
                }
                self.hash = hash;
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
}

/// The cut offsets of `data` fed in slices of `piece` bytes, by `find_cut`.
fn cuts_by(
    data: &[u8],
    piece: usize,
    mut find_cut: impl FnMut(&[u8]) -> Option<usize>,
) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut fed = 0;
    while fed < data.len() {
        let end = (fed + piece).min(data.len());
        let mut at = fed;
        while let Some(n) = find_cut(&data[at..end]) {
            assert!(n <= end - at, "a cut past the slice");
            at += n;
            cuts.push(at);
        }
        fed = end;
    }
    cuts
}

fn new_cuts(data: &[u8], piece: usize) -> Vec<usize> {
    let mut c = Chunker::new();
    cuts_by(data, piece, |d| c.find_cut(d))
}

fn reference_cuts(data: &[u8], piece: usize) -> Vec<usize> {
    let mut c = reference::Chunker::default();
    cuts_by(data, piece, |d| c.find_cut(d))
}

fn assert_same_cuts(data: &[u8], piece: usize, what: &str) -> Vec<usize> {
    let want = reference_cuts(data, piece);
    let got = new_cuts(data, piece);
    assert_eq!(got, want, "{what}: pieces of {piece}");
    want
}

/// The hash the reference holds after rolling `bytes` from `hash`.
fn roll(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash << 1).wrapping_add(reference::GEAR[usize::from(b)]);
    }
    hash
}

/// Three bytes that take the hash from `h0` to one whose top bits under
/// `mask` are zero, and whose top bits under `avoid` are not (`0`: no
/// such condition). Every pair of the first two bytes is tried; the third
/// is looked up among the table's values sorted.
fn three_bytes_to(h0: u64, mask: u64, avoid: u64) -> [u8; 3] {
    let mut sorted: Vec<(u64, u8)> = (0..=255u8)
        .map(|b| (reference::GEAR[usize::from(b)], b))
        .collect();
    sorted.sort_unstable();
    let window = !mask; // hash & mask == 0 <=> hash <= window
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let base = roll(roll(h0, &[a]), &[b]) << 1;
            // Want base + g (wrapping) in [0, window]: g in [-base, -base + window].
            let lo = base.wrapping_neg();
            let start = sorted.partition_point(|&(g, _)| g < lo);
            for &(g, c) in sorted[start..].iter().chain(sorted[..start].iter()) {
                let h = base.wrapping_add(g);
                if h > window {
                    break;
                }
                if avoid == 0 || h & avoid != 0 {
                    return [a, b, c];
                }
            }
        }
    }
    panic!("no three bytes reach the mask from {h0:#x}");
}

/// What to plant at a chunk's last byte (`len` bytes into the chunk).
#[derive(Clone, Copy)]
enum Plant {
    /// A hash that cuts under either mask.
    Cut,
    /// A hash that cuts only under the loose mask (before the normalization
    /// point it must not cut).
    LooseOnly,
}

/// Bytes whose chunks (by the reference) end where `plan` says, where it
/// can: each entry is a chunk length and what is planted at its end, the
/// rest of the chunk `zeros` (no cut ever: the constant input's hash never
/// matches) or random. A random byte may still cut early; the chunk then
/// ends there, which is also a case to compare.
fn planted(plan: &[(usize, Plant)], zeros: bool, seed: u64) -> Vec<u8> {
    let mut data = Vec::new();
    let mut chunk_start = 0;
    for (n, &(len, plant)) in plan.iter().enumerate() {
        assert!((MIN_CHUNK + 3..=MAX_CHUNK).contains(&len));
        let mut fill = if zeros {
            vec![0u8; len - 3]
        } else {
            testkit::noise(seed * 1000 + n as u64, len - 3)
        };
        data.append(&mut fill);
        let h0 = roll(0, &data[chunk_start + MIN_CHUNK..]);
        let (mask, avoid) = match plant {
            Plant::Cut => (reference::STRICT_MASK, 0),
            Plant::LooseOnly => (reference::LOOSE_MASK, reference::STRICT_MASK),
        };
        data.extend_from_slice(&three_bytes_to(h0, mask, avoid));
        // Where the reference really ends this chunk (or the next ones).
        let cuts = reference_cuts(&data, data.len());
        chunk_start = cuts.last().copied().unwrap_or(0);
    }
    data
}

#[test]
fn random_bytes_cut_the_same() {
    for seed in 1..=4 {
        let data = testkit::noise(seed, 6 << 20);
        let cuts = assert_same_cuts(&data, data.len(), "random");
        assert!(cuts.len() > 40, "only {} cuts", cuts.len());
    }
}

#[test]
fn low_entropy_bytes_cut_the_same() {
    // Constant runs, short periods and sparse bytes: cuts at the maximum,
    // or at the few places the pattern's hash happens to match.
    let mut inputs: Vec<Vec<u8>> = vec![vec![0u8; 3 * MAX_CHUNK + 5], vec![0xFF; 2 * MAX_CHUNK]];
    for period in 1..=17usize {
        let unit = testkit::noise(period as u64, period);
        inputs.push(
            unit.iter()
                .copied()
                .cycle()
                .take(2 * MAX_CHUNK + period)
                .collect(),
        );
    }
    let mut sparse = vec![0u8; 2 * MAX_CHUNK];
    for (i, b) in testkit::noise(99, sparse.len() / 97)
        .into_iter()
        .enumerate()
    {
        sparse[i * 97] = b;
    }
    inputs.push(sparse);
    for data in &inputs {
        assert_same_cuts(data, data.len(), "low entropy");
        assert_same_cuts(data, 4093, "low entropy");
    }
}

/// Chunk lengths that put the planted hash at every offset of an
/// eight-byte round around the minimum and the normalization point.
fn plan_around_the_thresholds() -> Vec<(usize, Plant)> {
    let mut plan = Vec::new();
    for len in MIN_CHUNK + 3..MIN_CHUNK + 24 {
        plan.push((len, Plant::Cut));
    }
    for len in AVG_CHUNK - 12..AVG_CHUNK + 12 {
        plan.push((len, Plant::Cut));
        plan.push((len, Plant::LooseOnly));
    }
    for len in [MIN_CHUNK + 1000, 20_001, 33_333, 40_000, 50_007] {
        plan.push((len, Plant::LooseOnly));
        plan.push((len, Plant::Cut));
    }
    plan
}

#[test]
fn planted_cuts_at_every_offset_cut_the_same() {
    let plan = plan_around_the_thresholds();
    for zeros in [true, false] {
        let data = planted(&plan, zeros, 7);
        let cuts = assert_same_cuts(&data, data.len(), "planted");
        if zeros {
            // With zeros around them every planted cut is a cut, and a
            // loose-only hash cuts only from the normalization point on.
            let mut want = Vec::new();
            let mut at = 0;
            let mut pending = 0;
            for &(len, plant) in &plan {
                pending += len;
                if matches!(plant, Plant::Cut) || len > AVG_CHUNK - 1 {
                    at += pending;
                    pending = 0;
                    want.push(at);
                }
            }
            assert_eq!(cuts, want, "the planted cuts themselves");
        }
    }
}

#[test]
fn planted_cuts_near_the_maximum_cut_the_same() {
    let mut plan = Vec::new();
    for len in MAX_CHUNK - 20..=MAX_CHUNK {
        plan.push((len, Plant::Cut));
        plan.push((len, Plant::LooseOnly));
    }
    let data = planted(&plan, true, 8);
    let cuts = assert_same_cuts(&data, data.len(), "near the maximum");
    assert_eq!(cuts.len(), plan.len(), "one cut per planted chunk");
    // And a chunk left to run to the maximum.
    let mut long = data.clone();
    long.extend(std::iter::repeat_n(0u8, MAX_CHUNK + 17));
    assert_same_cuts(&long, long.len(), "run to the maximum");
}

#[test]
fn every_piece_size_cuts_the_same() {
    // Dense planted cuts (every offset around the thresholds) and random
    // bytes, fed in every piece size up to 64 and a spread of larger ones:
    // round and slice boundaries fall at every offset of the scan.
    let plan: Vec<(usize, Plant)> = plan_around_the_thresholds().into_iter().take(24).collect();
    let mut data = planted(&plan, false, 9);
    data.extend(testkit::noise(10, 300_000));
    let whole = reference_cuts(&data, data.len());
    assert!(whole.len() >= 20, "only {} cuts", whole.len());
    let mut pieces: Vec<usize> = (1..=64).collect();
    pieces.extend([
        65,
        127,
        4095,
        4096,
        4097,
        12_345,
        48 * 1024,
        MIN_CHUNK - 1,
        MIN_CHUNK,
        MIN_CHUNK + 1,
        AVG_CHUNK - 1,
        AVG_CHUNK,
        AVG_CHUNK + 1,
        MAX_CHUNK - 1,
        MAX_CHUNK,
        MAX_CHUNK + 1,
        1 << 20,
    ]);
    let mut p = 67;
    while p < 70_000 {
        pieces.push(p);
        p = p * 3 / 2 + 1;
    }
    for piece in pieces {
        assert_eq!(new_cuts(&data, piece), whole, "pieces of {piece}");
    }
}
