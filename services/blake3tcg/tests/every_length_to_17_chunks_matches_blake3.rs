//! Chunk ids are on disk: `blake3tcg::hash` must equal the `blake3` crate's
//! hash at every length across the block (64 B), chunk (1024 B) and tree
//! boundaries. 0..=17 chunks + 1 byte covers a chunk alone (with ROOT),
//! partial last blocks and chunks, and trees of one to five levels with
//! and without a pending subtree.

fn data(len: usize) -> Vec<u8> {
    // Not a repeating pattern: a chunk or block hashed at a wrong offset or
    // with a wrong counter gives a different result.
    let mut x: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn every_length_to_17_chunks_matches_blake3() {
    let bytes = data(17 * 1024 + 1);
    for len in 0..=bytes.len() {
        let input = &bytes[..len];
        assert_eq!(
            blake3tcg::hash(input),
            *blake3::hash(input).as_bytes(),
            "length {len}"
        );
    }
}
