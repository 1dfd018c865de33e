//! OCI distribution-spec grammar for repository names, tags and digests.
//!
//! Everything a user sends is an allegation until one of the `parse`
//! functions here accepted it; the registry API only takes the validated
//! types ([`RepoName`], [`Tag`], [`Digest`]), so a path built from them can
//! never escape its directory (`..`, `/abs`, `_uploads` are all rejected).
//!
//! Grammar (distribution-spec v1.1, `reference` package of distribution):
//! - name: components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`,
//!   at most [`NAME_MAX_LEN`] bytes in total;
//! - tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
//! - digest: `<algorithm>:<hex>` with sha256 (64 lowercase hex), sha512
//!   (128) or blake3 (64).
//!
//! Written by hand: the grammar is three small regular languages, and a
//! regex engine in a `no_std` service would cost more than these checks.

use alloc::string::String;
use core::fmt;

/// Longest repository name the reference accepts (`NameTotalLengthMax`).
pub const NAME_MAX_LEN: usize = 255;
/// Longest tag: one leading character plus 127.
pub const TAG_MAX_LEN: usize = 128;

/// Why a repository name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    /// Starts with `/`.
    Absolute,
    /// `a//b` or a trailing `/`: component `index` is empty.
    EmptyComponent {
        index: usize,
    },
    /// A component is `.` or `..`.
    DotComponent {
        component: String,
    },
    /// A component starts with `_` (reserved for `_layers`, `_manifests`, `_uploads`).
    LeadingUnderscore {
        component: String,
    },
    /// A byte outside `[a-z0-9._-/]` at byte offset `at`.
    BadChar {
        ch: char,
        at: usize,
    },
    /// Separators in a component are `.`, `_`, `__` or a run of `-`, each
    /// between two alphanumerics.
    BadSeparator {
        component: String,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "repository name is empty"),
            NameError::TooLong { len, max } => {
                write!(f, "repository name is {len} bytes, the limit is {max}")
            }
            NameError::Absolute => write!(f, "repository name must not start with '/'"),
            NameError::EmptyComponent { index } => {
                write!(f, "repository name component {index} is empty")
            }
            NameError::DotComponent { component } => {
                write!(f, "repository name component {component:?} is a relative path")
            }
            NameError::LeadingUnderscore { component } => {
                write!(f, "repository name component {component:?} starts with '_'")
            }
            NameError::BadChar { ch, at } => {
                write!(f, "repository name has {ch:?} at byte {at}; allowed: a-z 0-9 . _ - /")
            }
            NameError::BadSeparator { component } => write!(
                f,
                "repository name component {component:?}: separators ., _, __, - must sit between letters or digits"
            ),
        }
    }
}

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagError {
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    /// First character must be `[a-zA-Z0-9_]`.
    BadFirst {
        ch: char,
    },
    BadChar {
        ch: char,
        at: usize,
    },
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::Empty => write!(f, "tag is empty"),
            TagError::TooLong { len, max } => write!(f, "tag is {len} bytes, the limit is {max}"),
            TagError::BadFirst { ch } => {
                write!(f, "tag starts with {ch:?}; must start with a-z A-Z 0-9 _")
            }
            TagError::BadChar { ch, at } => {
                write!(f, "tag has {ch:?} at byte {at}; allowed: a-z A-Z 0-9 . _ -")
            }
        }
    }
}

/// Why a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// No `:` between algorithm and hex.
    MissingColon,
    UnknownAlgorithm {
        algorithm: String,
    },
    WrongLength {
        algorithm: Algorithm,
        len: usize,
        expected: usize,
    },
    /// Not lowercase hex (uppercase is refused: the path must be canonical).
    BadHex {
        ch: char,
        at: usize,
    },
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::MissingColon => write!(f, "digest has no ':' (want algorithm:hex)"),
            DigestError::UnknownAlgorithm { algorithm } => write!(
                f,
                "digest algorithm {algorithm:?} is not one of sha256, sha512, blake3"
            ),
            DigestError::WrongLength {
                algorithm,
                len,
                expected,
            } => write!(
                f,
                "{} digest has {len} hex digits, expected {expected}",
                algorithm.name()
            ),
            DigestError::BadHex { ch, at } => {
                write!(
                    f,
                    "digest has {ch:?} at hex position {at}; want lowercase hex"
                )
            }
        }
    }
}

/// A validated repository name such as `myorg/team/image`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(name: &str) -> Result<RepoName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > NAME_MAX_LEN {
            return Err(NameError::TooLong {
                len: name.len(),
                max: NAME_MAX_LEN,
            });
        }
        if name.starts_with('/') {
            return Err(NameError::Absolute);
        }
        if let Some((at, ch)) = name
            .char_indices()
            .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-' | '/'))
        {
            return Err(NameError::BadChar { ch, at });
        }
        for (index, component) in name.split('/').enumerate() {
            check_component(component, index)?;
        }
        Ok(RepoName(String::from(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_component(component: &str, index: usize) -> Result<(), NameError> {
    if component.is_empty() {
        return Err(NameError::EmptyComponent { index });
    }
    if component == "." || component == ".." {
        return Err(NameError::DotComponent {
            component: String::from(component),
        });
    }
    if component.starts_with('_') {
        return Err(NameError::LeadingUnderscore {
            component: String::from(component),
        });
    }
    // `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: alternate runs of alphanumerics
    // and separator runs; a separator run is ".", "_", "__" or "-+".
    let bytes = component.as_bytes();
    let bad = || NameError::BadSeparator {
        component: String::from(component),
    };
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let start = i;
        let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if expect_alnum {
            while i < bytes.len() && is_alnum(bytes[i]) {
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
        } else {
            while i < bytes.len() && !is_alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok || i == bytes.len() {
                return Err(bad());
            }
        }
        expect_alnum = !expect_alnum;
    }
    Ok(())
}

/// A validated tag such as `v1.2.3` or `latest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(tag: &str) -> Result<Tag, TagError> {
        let mut chars = tag.char_indices();
        let Some((_, first)) = chars.next() else {
            return Err(TagError::Empty);
        };
        if tag.len() > TAG_MAX_LEN {
            return Err(TagError::TooLong {
                len: tag.len(),
                max: TAG_MAX_LEN,
            });
        }
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return Err(TagError::BadFirst { ch: first });
        }
        if let Some((at, ch)) =
            chars.find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(TagError::BadChar { ch, at });
        }
        Ok(Tag(String::from(tag)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Digest algorithms the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
    Blake3,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// Length of the hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            "blake3" => Some(Algorithm::Blake3),
            _ => None,
        }
    }
}

/// A validated digest `algorithm:hex`, canonical (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = text.split_once(':').ok_or(DigestError::MissingColon)?;
        let algorithm = Algorithm::from_name(alg).ok_or_else(|| DigestError::UnknownAlgorithm {
            algorithm: String::from(alg),
        })?;
        Digest::from_hex(algorithm, hex)
    }

    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        if let Some((at, ch)) = hex
            .char_indices()
            .find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
        {
            return Err(DigestError::BadHex { ch, at });
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                algorithm,
                len: hex.len(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: String::from(hex),
        })
    }

    /// The digest of raw hash output bytes.
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<Digest, DigestError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 15)]));
        }
        Digest::from_hex(algorithm, &hex)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_accepted() {
        for n in [
            "a",
            "library/ubuntu",
            "myorg/team/image",
            "a.b_c__d---e",
            "0x/9",
            "foo-bar/baz.qux",
        ] {
            assert_eq!(
                RepoName::parse(n).map(|r| r.as_str().to_string()),
                Ok(n.to_string())
            );
        }
        let max = "a".repeat(NAME_MAX_LEN);
        assert!(RepoName::parse(&max).is_ok());
    }

    #[test]
    fn names_rejected() {
        assert_eq!(RepoName::parse(""), Err(NameError::Empty));
        assert_eq!(RepoName::parse("/etc"), Err(NameError::Absolute));
        assert_eq!(
            RepoName::parse("a//b"),
            Err(NameError::EmptyComponent { index: 1 })
        );
        assert_eq!(
            RepoName::parse("a/"),
            Err(NameError::EmptyComponent { index: 1 })
        );
        assert_eq!(
            RepoName::parse("a/../b"),
            Err(NameError::DotComponent {
                component: "..".to_string()
            })
        );
        assert_eq!(
            RepoName::parse("."),
            Err(NameError::DotComponent {
                component: ".".to_string()
            })
        );
        assert_eq!(
            RepoName::parse("a/_uploads"),
            Err(NameError::LeadingUnderscore {
                component: "_uploads".to_string()
            })
        );
        assert_eq!(
            RepoName::parse("Abc"),
            Err(NameError::BadChar { ch: 'A', at: 0 })
        );
        assert_eq!(
            RepoName::parse("a b"),
            Err(NameError::BadChar { ch: ' ', at: 1 })
        );
        assert_eq!(
            RepoName::parse("a\u{e9}"),
            Err(NameError::BadChar {
                ch: '\u{e9}',
                at: 1
            })
        );
        for bad in [
            "a___b", "a.-b", "a.", "-a", "a..b", ".a", "a_", "a-", "a._b",
        ] {
            assert!(
                matches!(RepoName::parse(bad), Err(NameError::BadSeparator { .. })),
                "{bad} accepted: {:?}",
                RepoName::parse(bad)
            );
        }
        let long = "a".repeat(NAME_MAX_LEN + 1);
        assert_eq!(
            RepoName::parse(&long),
            Err(NameError::TooLong {
                len: 256,
                max: NAME_MAX_LEN
            })
        );
    }

    #[test]
    fn tags() {
        for t in ["latest", "v1.2.3", "_x", "A-b_c.d", "0"] {
            assert!(Tag::parse(t).is_ok(), "{t}");
        }
        assert!(Tag::parse(&"a".repeat(128)).is_ok());
        assert_eq!(Tag::parse(""), Err(TagError::Empty));
        assert_eq!(
            Tag::parse(&"a".repeat(129)),
            Err(TagError::TooLong { len: 129, max: 128 })
        );
        assert_eq!(Tag::parse(".x"), Err(TagError::BadFirst { ch: '.' }));
        assert_eq!(Tag::parse("-x"), Err(TagError::BadFirst { ch: '-' }));
        assert_eq!(Tag::parse("a/b"), Err(TagError::BadChar { ch: '/', at: 1 }));
        assert_eq!(Tag::parse("a:b"), Err(TagError::BadChar { ch: ':', at: 1 }));
        assert_eq!(Tag::parse(".."), Err(TagError::BadFirst { ch: '.' }));
    }

    #[test]
    fn digests() {
        let h64 = "0123456789abcdef".repeat(4);
        let d = Digest::parse(&alloc::format!("sha256:{h64}")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), h64);
        assert_eq!(d.to_string(), alloc::format!("sha256:{h64}"));
        assert!(Digest::parse(&alloc::format!("blake3:{h64}")).is_ok());
        assert!(Digest::parse(&alloc::format!("sha512:{h64}{h64}")).is_ok());
        assert_eq!(
            Digest::parse(&alloc::format!("sha512:{h64}")),
            Err(DigestError::WrongLength {
                algorithm: Algorithm::Sha512,
                len: 64,
                expected: 128
            })
        );
        assert_eq!(Digest::parse(&h64), Err(DigestError::MissingColon));
        assert_eq!(
            Digest::parse(&alloc::format!("md5:{h64}")),
            Err(DigestError::UnknownAlgorithm {
                algorithm: "md5".to_string()
            })
        );
        assert_eq!(
            Digest::parse(&alloc::format!("sha256:{}", h64.to_uppercase())),
            Err(DigestError::BadHex { ch: 'A', at: 10 })
        );
        assert_eq!(
            Digest::parse(&alloc::format!("sha256:{h64}\n")),
            Err(DigestError::BadHex { ch: '\n', at: 64 })
        );
        assert!(matches!(
            Digest::parse("sha256:../../etc"),
            Err(DigestError::BadHex { ch: '.', at: 0 })
        ));
        assert!(Digest::parse("sha256:").is_err());
        let b = Digest::from_bytes(Algorithm::Sha256, &[0xab; 32]).unwrap();
        assert_eq!(b.hex(), "ab".repeat(32));
        assert!(Digest::from_bytes(Algorithm::Sha256, &[0; 31]).is_err());
    }
}
