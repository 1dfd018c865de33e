//! The straightforward reference for `snap space`: every tree's files read
//! whole and cut into chunks again by the content store's chunker, each
//! chunk known by its bytes' BLAKE3; then sets. No bitmaps, no steps: what
//! the stepped run must agree with. (Files written with `write_file` only:
//! each is one object, chunked as the reference chunks it; no holes.)

use std::collections::{BTreeMap, BTreeSet};

use block::Transactional;
use content::Chunker;
use filesystem::{Fs, Kind};

/// The distinct chunks of tree `tree` (`None`: live): BLAKE3 -> length.
pub fn chunks_of<T: Transactional>(fs: &mut Fs<T>, tree: Option<&str>) -> BTreeMap<[u8; 32], u64> {
    let mut out = BTreeMap::new();
    for e in fs.walk(tree).expect("walk") {
        if e.kind != Kind::File {
            continue;
        }
        let bytes = fs.read_file_in(tree, &e.path, u64::MAX).expect("read");
        let mut rest = &bytes[..];
        let mut chunker = Chunker::new();
        while !rest.is_empty() {
            let n = chunker.find_cut(rest).unwrap_or(rest.len());
            out.insert(*blake3::hash(&rest[..n]).as_bytes(), n as u64);
            rest = &rest[n..];
        }
    }
    out
}

/// (chunks, stored, exclusive, shared bytes) of snapshot `name`, counted
/// from sets.
#[derive(Debug, PartialEq, Eq)]
pub struct Expected {
    pub chunks: u64,
    pub stored_bytes: u64,
    pub exclusive_bytes: u64,
    pub shared_bytes: u64,
}

pub fn reference<T: Transactional>(fs: &mut Fs<T>, name: &str) -> Expected {
    let mine = chunks_of(fs, Some(name));
    let mut others: BTreeSet<[u8; 32]> = chunks_of(fs, None).into_keys().collect();
    for s in fs.snapshot_list().expect("list") {
        if s.name != name {
            others.extend(chunks_of(fs, Some(&s.name)).into_keys());
        }
    }
    let shared: u64 = mine
        .iter()
        .filter(|(h, _)| others.contains(*h))
        .map(|(_, l)| l)
        .sum();
    let stored: u64 = mine.values().sum();
    Expected {
        chunks: mine.len() as u64,
        stored_bytes: stored,
        exclusive_bytes: stored - shared,
        shared_bytes: shared,
    }
}

/// The run's answer in the reference's terms.
pub fn answered(s: &filesystem::SnapshotSpace) -> Expected {
    Expected {
        chunks: s.chunks,
        stored_bytes: s.stored_bytes,
        exclusive_bytes: s.exclusive_bytes,
        shared_bytes: s.shared_bytes,
    }
}
