//! Streaming digest computation and verification.
//!
//! A blob is hashed while it streams in or out; nothing is buffered. sha256
//! comes from `sha256tcg` (every uploaded byte goes through it; that crate
//! says why it is hand-written), sha512 from the `sha2` crate, blake3 from
//! `blake3`.

use crate::names::{Algorithm, Digest};
use alloc::boxed::Box;
use sha2::Digest as _;

/// Incremental hasher for one of the accepted algorithms.
pub enum Hasher {
    Sha256(sha256tcg::Sha256),
    Sha512(sha2::Sha512),
    // Boxed: blake3's hasher is ~2 KiB, the SHA-2 ones ~100 bytes.
    Blake3(Box<blake3::Hasher>),
}

/// The bytes did not hash to the digest they were announced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMismatch {
    pub expected: Digest,
    pub got: Digest,
}

impl core::fmt::Display for DigestMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "digest mismatch: expected {}, content hashes to {}",
            self.expected, self.got
        )
    }
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha256tcg::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
            Hasher::Blake3(_) => Algorithm::Blake3,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    pub fn finish(self) -> Digest {
        let digest = match self {
            Hasher::Sha256(h) => Digest::from_bytes(Algorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_bytes(Algorithm::Sha512, &h.finalize()),
            Hasher::Blake3(h) => Digest::from_bytes(Algorithm::Blake3, h.finalize().as_bytes()),
        };
        // Safety of the expect: each hash output has exactly the length its
        // algorithm's hex_len() expects; this is not data-dependent.
        digest.expect("hash output length matches its algorithm")
    }

    /// Hash `bytes` in one go.
    pub fn digest_of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }
}

/// Hashes a stream and checks it against the digest announced up front.
pub struct Verifier {
    expected: Digest,
    hasher: Hasher,
    bytes: u64,
}

impl Verifier {
    pub fn new(expected: Digest) -> Verifier {
        Verifier {
            hasher: Hasher::new(expected.algorithm()),
            expected,
            bytes: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.bytes = self.bytes.saturating_add(bytes.len() as u64);
        self.hasher.update(bytes);
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    pub fn finish(self) -> Result<(), DigestMismatch> {
        let got = self.hasher.finish();
        if got == self.expected {
            Ok(())
        } else {
            Err(DigestMismatch {
                expected: self.expected,
                got,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    // Known answers for "abc" (FIPS 180-2 and the BLAKE3 reference).
    const SHA256_ABC: &str =
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const SHA512_ABC: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
    const BLAKE3_ABC: &str =
        "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

    #[test]
    fn known_answers() {
        for (alg, want) in [
            (Algorithm::Sha256, SHA256_ABC),
            (Algorithm::Sha512, SHA512_ABC),
            (Algorithm::Blake3, BLAKE3_ABC),
        ] {
            assert_eq!(Hasher::digest_of(alg, b"abc").to_string(), want);
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: alloc::vec::Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for alg in [Algorithm::Sha256, Algorithm::Sha512, Algorithm::Blake3] {
            let want = Hasher::digest_of(alg, &data);
            let mut v = Verifier::new(want.clone());
            for piece in data.chunks(333) {
                v.update(piece);
            }
            assert_eq!(v.len(), 10_000);
            assert_eq!(v.finish(), Ok(()));
        }
    }

    #[test]
    fn mismatch_names_both() {
        let expected = Digest::parse(SHA256_ABC).unwrap();
        let mut v = Verifier::new(expected.clone());
        v.update(b"abd");
        let err = v.finish().unwrap_err();
        assert_eq!(err.expected, expected);
        assert_eq!(err.got, Hasher::digest_of(Algorithm::Sha256, b"abd"));
        assert!(err.to_string().contains(SHA256_ABC));
    }
}
