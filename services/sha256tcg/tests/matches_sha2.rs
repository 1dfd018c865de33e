//! Every output is compared with `sha2::Sha256` (the oracle) and the
//! FIPS 180-4 vectors: every length across the first blocks (the padding's
//! one- and two-block cases at every offset), long inputs, and `update`
//! splits that land on every offset of the 64-byte block.

use sha2::Digest as _;

/// Deterministic noise (xorshift64).
fn noise(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha2_of(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

fn hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn fips_180_4_vectors() {
    assert_eq!(
        sha256tcg::digest(b""),
        hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        sha256tcg::digest(b"abc"),
        hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    // The 448-bit message: the length no longer fits its block.
    assert_eq!(
        sha256tcg::digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    );
    // A million 'a', fed in pieces of 1000.
    let mut h = sha256tcg::Sha256::new();
    for _ in 0..1000 {
        h.update(&[b'a'; 1000]);
    }
    assert_eq!(
        h.finalize(),
        hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    );
}

#[test]
fn every_length_to_1100_matches_sha2() {
    let bytes = noise(1100, 0x2545_F491_4F6C_DD1D);
    for len in 0..=bytes.len() {
        let input = &bytes[..len];
        assert_eq!(sha256tcg::digest(input), sha2_of(input), "length {len}");
    }
}

#[test]
fn long_inputs_match_sha2() {
    let bytes = noise((5 << 20) + 4099, 0x9E37_79B9_7F4A_7C15);
    let mib = 1 << 20;
    for len in [
        mib - 1,
        mib,
        mib + 55,
        mib + 56,
        mib + 64,
        3 * mib + 12345,
        bytes.len(),
    ] {
        let input = &bytes[..len];
        assert_eq!(sha256tcg::digest(input), sha2_of(input), "length {len}");
    }
}

#[test]
fn every_fixed_piece_size_matches_sha2() {
    let bytes = noise(3000, 7);
    let want = sha2_of(&bytes);
    for piece in 1..=130 {
        let mut h = sha256tcg::Sha256::new();
        for p in bytes.chunks(piece) {
            h.update(p);
        }
        assert_eq!(h.finalize(), want, "pieces of {piece}");
    }
}

#[test]
fn random_update_splits_match_sha2() {
    let bytes = noise(70_000, 11);
    let mut x: u64 = 0xD1B5_4A32_D192_ED03;
    for round in 0..300 {
        // A random length, cut at random points, empty pieces included.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % bytes.len() as u64) as usize;
        let input = &bytes[..len];
        let mut h = sha256tcg::Sha256::new();
        let mut at = 0;
        while at < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly small pieces (every block offset), sometimes big ones.
            let max = if x & 7 == 0 { 5000 } else { 150 };
            let take = ((x >> 8) as usize % max).min(len - at);
            h.update(&input[at..at + take]);
            at += take;
        }
        assert_eq!(h.finalize(), sha2_of(input), "round {round}, length {len}");
    }
}
