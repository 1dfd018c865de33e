//! Inputs past 1 MiB (deeper trees, chunk counters above 1024) hash the
//! same as with the `blake3` crate: around powers of two of chunks, where
//! the tree's shape changes, and at odd sizes.

#[test]
fn long_inputs_match_blake3() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let bytes: Vec<u8> = (0..(5 << 20) + 4099)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let mib = 1 << 20;
    let lengths = [
        mib - 1,
        mib,
        mib + 1,
        mib + 1024,
        mib + 1025,
        2 * mib - 1024,
        2 * mib,
        2 * mib + 63,
        3 * mib + 12345,
        4 * mib,
        4 * mib + 1,
        5 * mib + 4099,
    ];
    for len in lengths {
        let input = &bytes[..len];
        assert_eq!(
            blake3tcg::hash(input),
            *blake3::hash(input).as_bytes(),
            "length {len}"
        );
    }
}
