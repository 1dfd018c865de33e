//! Validation of what a client puts in a URL: repository names, tags,
//! digests, upload session ids, and percent-decoding of query values.
//!
//! Hand-written rather than with a regex crate: each grammar is a few lines
//! of the spec's own productions, and a regex engine would be most of the
//! binary of a `no_std` service.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Longest repository name accepted (the reference registry's limit).
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag (the spec's grammar allows 128 characters).
pub const MAX_TAG_LEN: usize = 128;
/// Longest upload session id a backend may hand out.
pub const MAX_UPLOAD_ID_LEN: usize = 128;

/// A repository name per the spec:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    // A component is alnum runs joined by one separator: '.', '_', '__' or '-+'.
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false; // empty run: leading/trailing/double separator
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > sep_start);
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let ok = |x: u8| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-';
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&x| ok(x))
}

/// An upload session id as a backend hands them out and a client sends them
/// back: `[A-Za-z0-9._-]{1,128}`.
pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID_LEN
        && id
            .bytes()
            .all(|x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// A validated content digest. Only `sha256:` with 64 lowercase hex digits
/// is accepted: that is what the storage verifies.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Digest> {
        let hex = s.strip_prefix("sha256:")?;
        let ok = hex.len() == 64
            && hex
                .bytes()
                .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x));
        ok.then(|| Digest(String::from(s)))
    }

    /// Builds the digest of a 32-byte SHA-256 value.
    pub fn from_sha256(hash: &[u8; 32]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in hash {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        Digest(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A manifest reference in a URL: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A string with ':' must be a valid digest, else a valid tag; `None`
    /// says which error to answer is the caller's choice.
    pub fn parse(s: &str) -> Option<Reference> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else if valid_tag(s) {
            Some(Reference::Tag(String::from(s)))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(t) => t,
            Reference::Digest(d) => d.as_str(),
        }
    }
}

/// Decodes `%XX` and `+` in a query value; `None` on a bad escape or
/// invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let v = (hex_val(h[0])? << 4) | hex_val(h[1])?;
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            x => {
                out.push(x);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(x: u8) -> Option<u8> {
    match x {
        b'0'..=b'9' => Some(x - b'0'),
        b'a'..=b'f' => Some(x - b'a' + 10),
        b'A'..=b'F' => Some(x - b'A' + 10),
        _ => None,
    }
}

/// Iterates `key=value` pairs of a query string (values still encoded).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// The first value of `key` in a query, percent-decoded. `Some(Err(()))`
/// when present but badly encoded.
pub fn query_value(query: &str, key: &str) -> Option<Result<String, ()>> {
    query_pairs(query)
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v).ok_or(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in [
            "a",
            "app",
            "library/ubuntu",
            "a.b_c__d---e/f0",
            "x/y/z",
            "0-9",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "App", "a/../b", "..", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a_",
            "a b", "a/.b", "é",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(256)));
        assert!(valid_name(&"a".repeat(255)));
    }

    #[test]
    fn tags_and_digests_are_checked() {
        assert!(valid_tag("v1.0_rc-2"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag(&"a".repeat(129)));
        let hex = "a".repeat(64);
        assert!(Digest::parse(&alloc::format!("sha256:{hex}")).is_some());
        assert!(Digest::parse(&alloc::format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(Digest::parse(&alloc::format!("sha256:{}", "a".repeat(63))).is_none());
        assert!(Digest::parse(&alloc::format!("sha512:{hex}")).is_none());
        assert!(matches!(
            Reference::parse("latest"),
            Some(Reference::Tag(_))
        ));
        assert!(Reference::parse("sha256:abc").is_none());
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value("mount=x&from=library%2Fubuntu", "from"),
            Some(Ok(String::from("library/ubuntu")))
        );
        assert_eq!(query_value("a=%zz", "a"), Some(Err(())));
        assert_eq!(query_value("a=1", "b"), None);
    }
}
