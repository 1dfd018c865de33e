//! The values an [`FsError`](super::FsError) carries across: which text
//! argument it is about ([`At`]), why a text was refused ([`Why`], with its
//! fixed phrases), the field-less code enums, and sizes, content-service
//! codes and hashes, each with its words on the wire and its plain words.

use alloc::string::String;
use core::fmt;

use abi::iface::Words;

/// Declares a field-less enum that crosses as one word (its code), with the
/// plain words each value reads as.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $( $(#[$vmeta])* $variant = $code, )* }

        impl Words for $name {
            const COUNT: usize = 1;
            fn put(&self, out: &mut [u64]) {
                out[0] = *self as u64;
            }
            fn take(words: &[u64]) -> Option<Self> {
                match *words.first()? {
                    $( $code => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $( $name::$variant => $text, )* })
            }
        }
    };
}

/// Which text argument of the call an error is about: argument `arg`
/// (0-based), all of it (`depth` 0) or its first `depth` path components
/// (`/a/b` of `/a/b/c`: a missing parent). `arg` [`At::NONE`]: a path the
/// service made (the registry's own layout), not one the caller sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub arg: u64,
    pub depth: u64,
}

abi::words! {
    struct AtWords { arg: u64, depth: u64 }
}

impl Words for At {
    const COUNT: usize = 2;
    fn put(&self, out: &mut [u64]) {
        AtWords {
            arg: self.arg,
            depth: self.depth,
        }
        .put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        let AtWords { arg, depth } = AtWords::take(words)?;
        Some(At { arg, depth })
    }
}

impl At {
    pub const NONE: At = At {
        arg: u64::MAX,
        depth: 0,
    };

    /// All of argument `arg`.
    pub const fn arg(arg: u64) -> At {
        At { arg, depth: 0 }
    }

    /// Where `path` (as the filesystem named it) lies in `args`: one of
    /// them, or a prefix of one (whole components), else [`At::NONE`].
    pub fn find(path: &str, args: &[&str]) -> At {
        for (i, a) in args.iter().enumerate() {
            if *a == path {
                return At::arg(i as u64);
            }
            let under = a
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/') || path.ends_with('/'));
            if under && !path.is_empty() {
                let depth = path.split('/').filter(|c| !c.is_empty()).count() as u64;
                return At {
                    arg: i as u64,
                    depth,
                };
            }
        }
        At::NONE
    }

    /// The text this names in `args` (`None` when it is no argument).
    pub fn text(&self, args: &[String]) -> Option<String> {
        let a = args.get(usize::try_from(self.arg).ok()?)?;
        if self.depth == 0 {
            return Some(a.clone());
        }
        let mut out = String::new();
        let parts = a.split('/').filter(|c| !c.is_empty());
        for c in parts.take(usize::try_from(self.depth).unwrap_or(usize::MAX)) {
            out.push('/');
            out.push_str(c);
        }
        Some(out)
    }
}

/// Why a path, snapshot name, repository name, tag or digest was refused:
/// a code and up to two values (a character is its code point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Why {
    pub code: u64,
    pub a: u64,
    pub b: u64,
}

abi::words! {
    struct WhyWords { code: u64, a: u64, b: u64 }
}

impl Words for Why {
    const COUNT: usize = 3;
    fn put(&self, out: &mut [u64]) {
        WhyWords {
            code: self.code,
            a: self.a,
            b: self.b,
        }
        .put(out)
    }
    fn take(words: &[u64]) -> Option<Self> {
        let WhyWords { code, a, b } = WhyWords::take(words)?;
        Some(Why { code, a, b })
    }
}

impl Why {
    pub const fn of(code: u64) -> Why {
        Why { code, a: 0, b: 0 }
    }
    pub const fn with(code: u64, a: u64, b: u64) -> Why {
        Why { code, a, b }
    }

    /// The code of a fixed phrase the filesystem library gives as a path's
    /// or snapshot name's reason (0: not one this version knows).
    pub fn of_phrase(phrase: &str) -> Why {
        let code = WHY_PHRASES
            .iter()
            .find(|(_, p)| *p == phrase)
            .map_or(0, |(c, _)| *c);
        Why::of(code)
    }
}

/// The reasons that are fixed phrases, by code.
const WHY_PHRASES: &[(u64, &str)] = &[
    // Paths.
    (1, "not absolute"),
    (2, "empty component"),
    (3, "'.' or '..' component"),
    (4, "NUL byte"),
    (5, "is the root"),
    // Quotas (the filesystem's `quota::QuotaTarget::dir`).
    (6, "a quota is set on a top-level directory (/name)"),
    // Snapshot names.
    (10, "empty"),
    (11, "longer than 128 bytes"),
    (12, "starts with '.' or '-'"),
    (13, "allowed characters are A-Z a-z 0-9 . _ -"),
    (14, "stored name is not UTF-8"),
    (15, "corrupt record"),
    (16, "record has the wrong length"),
    // Repository names, tags, digests without values.
    (20, "is empty"),
    (22, "must not start with '/'"),
    (24, "has a '.' or '..' component"),
    (25, "has a component that starts with '_'"),
    (
        27,
        "separators ., _, __, - must sit between letters or digits",
    ),
    (40, "has no ':' (want algorithm:hex)"),
    (41, "names an algorithm other than sha256, sha512, blake3"),
];

pub mod why {
    //! Codes of reasons with values (see [`super::Why`]).
    pub const NAME_TOO_LONG: u64 = 21;
    pub const NAME_EMPTY_COMPONENT: u64 = 23;
    pub const NAME_BAD_CHAR: u64 = 26;
    pub const TAG_TOO_LONG: u64 = 31;
    pub const TAG_BAD_FIRST: u64 = 32;
    pub const TAG_BAD_CHAR: u64 = 33;
    pub const DIGEST_WRONG_LENGTH: u64 = 42;
    pub const DIGEST_BAD_HEX: u64 = 43;
    pub const EMPTY: u64 = 20;
    pub const ABSOLUTE: u64 = 22;
    pub const DOT_COMPONENT: u64 = 24;
    pub const LEADING_UNDERSCORE: u64 = 25;
    pub const BAD_SEPARATOR: u64 = 27;
    pub const MISSING_COLON: u64 = 40;
    pub const UNKNOWN_ALGORITHM: u64 = 41;
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Why { a, b, .. } = *self;
        let ch = char::from_u32(u32::try_from(a).unwrap_or(u32::MAX)).unwrap_or('\u{fffd}');
        match self.code {
            why::NAME_TOO_LONG | why::TAG_TOO_LONG => write!(f, "is {a} bytes, the limit is {b}"),
            why::NAME_EMPTY_COMPONENT => write!(f, "component {a} is empty"),
            why::NAME_BAD_CHAR => write!(f, "has {ch:?} at byte {b}; allowed: a-z 0-9 . _ - /"),
            why::TAG_BAD_FIRST => write!(f, "starts with {ch:?}; must start with a-z A-Z 0-9 _"),
            why::TAG_BAD_CHAR => write!(f, "has {ch:?} at byte {b}; allowed: a-z A-Z 0-9 . _ -"),
            why::DIGEST_WRONG_LENGTH => write!(f, "has {a} hex digits, expected {b}"),
            why::DIGEST_BAD_HEX => write!(f, "has {ch:?} at hex position {b}; want lowercase hex"),
            code => match WHY_PHRASES.iter().find(|(c, _)| *c == code) {
                Some((_, phrase)) => f.write_str(phrase),
                None => write!(f, "refused (reason {code})"),
            },
        }
    }
}

code_enum! {
    /// What kind of text argument was refused.
    pub enum ArgKind {
        Repository = 1 => "repository",
        Reference = 2 => "reference",
        Digest = 3 => "digest",
    }
}

code_enum! {
    /// Which request announced too many bytes.
    pub enum Request {
        Append = 1 => "append",
        Put = 2 => "put",
        BlobPut = 3 => "blob put",
        UploadAppend = 4 => "upload append",
        Other = 5 => "request",
    }
}

impl Request {
    /// The request the filesystem library names with `what`.
    pub fn of_name(what: &str) -> Request {
        match what {
            "append" => Request::Append,
            "put" => Request::Put,
            "blob put" => Request::BlobPut,
            "upload append" => Request::UploadAppend,
            _ => Request::Other,
        }
    }
}

code_enum! {
    /// Which structure failed its checks (`fsck` reports the detail).
    pub enum Damage {
        Tree = 1 => "a filesystem tree is corrupt",
        ContentStore = 2 => "the content store is corrupt",
        Inode = 3 => "an inode record is corrupt",
        RootBlock = 4 => "the filesystem's root block is corrupt",
        TreeRoot = 5 => "a tree root is corrupt",
        ContentRoot = 6 => "the content store's root is corrupt",
        ContentRootRejected = 7 => "the content service handed back a bad root; nothing was stored",
        ChunkRejected = 8 => "the content service handed back a bad chunk",
        Link = 9 => "a registry link file is corrupt",
        Invariant = 10 => "the filesystem contradicts its invariants",
        UploadId = 11 => "an upload's id is not 16 hex digits",
        RootLost = 12 => "the root slot is blank but blocks are in use: refusing to format over data",
        ContentNotLoaded = 13 => "the content store was used before it was loaded",
    }
}

code_enum! {
    /// How far the service got before the filesystem failed to mount.
    pub enum MountStage {
        BlockService = 1 => "block service unreachable or failing at start (the boot log says why)",
        Mount = 2 => "mount failed (the boot log says why)",
    }
}

code_enum! {
    /// Why a chunk of a file could not be returned.
    pub enum Cause {
        Corrupt = 1 => "is corrupt (run fsck)",
        Unreadable = 2 => "cannot be read",
        ContentUnreachable = 3 => "cannot be read: content service unreachable (it has stopped)",
    }
}

code_enum! {
    /// What a quota limits.
    pub enum QuotaKind {
        Directory = 1 => "directory",
        Repository = 2 => "repository",
    }
}

/// A number of bytes on the wire, shown as `block::ByteSize` shows it:
/// "812 bytes", "12.3 MiB".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl Words for Size {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.0;
    }
    fn take(words: &[u64]) -> Option<Self> {
        Some(Size(*words.first()?))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        block::ByteSize(self.0).fmt(f)
    }
}

/// A content-service error code (`content_api::ContentError`), shown by
/// its name in words: "chunk corrupt (content error 6)". Its values stay in
/// the fs service's log; a reply has no room for them beside the fs code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentCode(pub u64);

impl Words for ContentCode {
    const COUNT: usize = 1;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.0;
    }
    fn take(words: &[u64]) -> Option<Self> {
        Some(ContentCode(*words.first()?))
    }
}

impl fmt::Display for ContentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(name) = content_api::ContentError::name_of(self.0) else {
            return write!(f, "an unknown error (content error {})", self.0);
        };
        // "ChunkCorrupt" -> "chunk corrupt"
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}", c.to_ascii_lowercase())?;
        }
        write!(f, " (content error {})", self.0)
    }
}

/// A SHA-256 (or the first 32 bytes of a longer) hash, with its algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    /// `sha256`, `sha512` or `blake3`, as [`Hash::ALGORITHMS`] orders them.
    pub algorithm: u64,
    /// The hash, cut to 32 bytes (a sha512 shows its first half).
    pub bytes: [u8; 32],
}

impl Hash {
    pub const ALGORITHMS: [&'static str; 3] = ["sha256", "sha512", "blake3"];
}

impl Words for Hash {
    const COUNT: usize = 5;
    fn put(&self, out: &mut [u64]) {
        out[0] = self.algorithm;
        self.bytes.put(&mut out[1..5]);
    }
    fn take(words: &[u64]) -> Option<Self> {
        Some(Hash {
            algorithm: *words.first()?,
            bytes: <[u8; 32]>::take(words.get(1..5)?)?,
        })
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = usize::try_from(self.algorithm)
            .ok()
            .and_then(|i| Hash::ALGORITHMS.get(i))
            .unwrap_or(&"hash");
        write!(f, "{name}:")?;
        for b in self.bytes {
            write!(f, "{b:02x}")?;
        }
        if *name == "sha512" {
            f.write_str("...")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn a_path_is_found_whole_or_as_a_parent_of_an_argument() {
        let args = ["/a/b/c", "/x/y"];
        assert_eq!(At::find("/x/y", &args), At::arg(1));
        assert_eq!(At::find("/a/b", &args), At { arg: 0, depth: 2 });
        // A name that only starts like a component is not a parent.
        assert_eq!(At::find("/a/bc", &["/a/bcd"]), At::NONE);
        assert_eq!(At::find("repositories/x", &args), At::NONE);
        let sent = vec![String::from("/a/b/c")];
        assert_eq!(At { arg: 0, depth: 2 }.text(&sent).as_deref(), Some("/a/b"));
        assert_eq!(At::NONE.text(&sent), None);
    }

    #[test]
    fn fixed_phrases_keep_their_words() {
        for (_, phrase) in WHY_PHRASES {
            assert_eq!(Why::of_phrase(phrase).to_string(), *phrase);
        }
        assert_eq!(
            Why::of_phrase("new reason").to_string(),
            "refused (reason 0)"
        );
    }
}
