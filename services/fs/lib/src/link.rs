//! Link files: the reference registry's pointer files.
//!
//! # Byte layout
//!
//! ```text
//! offset 0                 algorithm name, ASCII ("sha256", "sha512", "blake3")
//! offset len(algorithm)    ':'
//! offset len(algorithm)+1  hex digest, lowercase ASCII (64 or 128 digits)
//! ```
//! No trailing newline, no padding: a sha256 link is exactly
//! [`SHA256_LINK_LEN`] = 71 bytes. The reference registry answers HTTP 500
//! when a link has a trailing newline, so decoding is strict: any byte
//! beyond the digest is an error, not whitespace to trim.
//!
//! # Invariants
//! - Each revisions, `_layers` and tag-index link holds the digest its own
//!   path names ([`decode_expecting`] checks it).

use crate::names::{Digest, DigestError};
use alloc::string::String;
use alloc::vec::Vec;

/// `sha256:` + 64 hex.
pub const SHA256_LINK_LEN: usize = 7 + 64;
/// The longest link (`sha512:` + 128 hex); larger files are refused unread.
pub const MAX_LINK_LEN: usize = 7 + 128;
const _: () = assert!(SHA256_LINK_LEN == 71);

/// Why a link file's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    TooLong {
        len: usize,
        max: usize,
    },
    NotUtf8,
    BadDigest(DigestError),
    /// The link names another digest than its path does.
    WrongTarget {
        expected: Digest,
        found: Digest,
    },
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkError::TooLong { len, max } => {
                write!(f, "link file is {len} bytes, at most {max} expected")
            }
            LinkError::NotUtf8 => write!(f, "link file is not ASCII"),
            LinkError::BadDigest(e) => write!(f, "link file: {e}"),
            LinkError::WrongTarget { expected, found } => {
                write!(f, "link file names {found}, its path names {expected}")
            }
        }
    }
}

pub fn encode(digest: &Digest) -> Vec<u8> {
    let mut s = String::with_capacity(MAX_LINK_LEN);
    s.push_str(digest.algorithm().name());
    s.push(':');
    s.push_str(digest.hex());
    s.into_bytes()
}

pub fn decode(bytes: &[u8]) -> Result<Digest, LinkError> {
    if bytes.len() > MAX_LINK_LEN {
        return Err(LinkError::TooLong {
            len: bytes.len(),
            max: MAX_LINK_LEN,
        });
    }
    let text = core::str::from_utf8(bytes).map_err(|_| LinkError::NotUtf8)?;
    Digest::parse(text).map_err(LinkError::BadDigest)
}

/// Decode a link whose path names `expected`.
pub fn decode_expecting(bytes: &[u8], expected: &Digest) -> Result<Digest, LinkError> {
    let found = decode(bytes)?;
    if &found != expected {
        return Err(LinkError::WrongTarget {
            expected: expected.clone(),
            found,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn d(hex: &str) -> Digest {
        Digest::parse(&format!("sha256:{hex}")).unwrap()
    }

    #[test]
    fn round_trip_is_71_bytes_no_newline() {
        let digest = d(&"ab".repeat(32));
        let bytes = encode(&digest);
        assert_eq!(bytes.len(), SHA256_LINK_LEN);
        assert_eq!(&bytes[..7], b"sha256:");
        assert_ne!(bytes.last(), Some(&b'\n'));
        assert_eq!(decode(&bytes), Ok(digest.clone()));
        assert_eq!(decode_expecting(&bytes, &digest), Ok(digest));
        let long = Digest::parse(&format!("sha512:{}", "0f".repeat(64))).unwrap();
        assert_eq!(encode(&long).len(), MAX_LINK_LEN);
        assert_eq!(decode(&encode(&long)), Ok(long));
    }

    #[test]
    fn strict_decoding() {
        let digest = d(&"cd".repeat(32));
        let mut nl = encode(&digest);
        nl.push(b'\n');
        assert!(matches!(
            decode(&nl),
            Err(LinkError::BadDigest(DigestError::BadHex { .. }))
        ));
        let mut space = encode(&digest);
        space.insert(0, b' ');
        assert!(decode(&space).is_err());
        assert_eq!(decode(&[0xff; 10]), Err(LinkError::NotUtf8));
        assert_eq!(
            decode(&[b'a'; 200]),
            Err(LinkError::TooLong {
                len: 200,
                max: MAX_LINK_LEN
            })
        );
        assert!(decode(b"").is_err());
        assert!(decode(&encode(&digest)[..70]).is_err());
        let other = d(&"ef".repeat(32));
        assert_eq!(
            decode_expecting(&encode(&digest), &other),
            Err(LinkError::WrongTarget {
                expected: other,
                found: digest
            })
        );
    }
}
