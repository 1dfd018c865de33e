//! Quotas: a limit on the bytes a repository or a top-level directory
//! stores, kept with its usage in the live tree, so a write that would pass
//! the limit is refused before it starts.
//!
//! # Record layout
//! One record per limit in the live tree (the namespace's tree, see
//! [`crate::records`]); integers in keys big-endian, in values
//! little-endian:
//! ```text
//! key    'Q' | kind u8 ('d' directory, 'r' repository) | name bytes
//!        (2..=255 bytes: a top-level directory's name without '/', or a
//!        repository name; names longer than 253 bytes cannot have a limit)
//! value  0 limit u64 | 8 used u64                              (16 bytes)
//! ```
//!
//! # What counts
//! - A top-level directory `/top`: the logical size of every file below it
//!   (holes count at their length, as `stat` shows them). A file directly
//!   in `/` belongs to no top-level directory.
//! - A repository: for each `_layers/<alg>/<hex>/link` and each
//!   `_manifests/revisions/<alg>/<hex>/link` it has, the size of that blob
//!   (0 while the blob is not stored), plus the bytes of its open uploads
//!   (`_uploads/<id>/data`). Dedup does not lower it: a layer two
//!   repositories link counts fully in each; tags cost nothing. Nested
//!   repositories (`a/b` below `a`) are counted apart.
//!
//! # Invariant
//! For every quota record, `used` equals what [`Fs::quota_recount`] counts
//! in the same tree. Usage is kept only for targets that have a limit: it
//! is counted when the limit is set (one walk of that directory or
//! repository, [`Fs::quota_set`]) and from then on changed by every
//! operation that changes what counts (a file's size, a file appearing,
//! disappearing or moving, a blob a counted link names), in that
//! operation's own transaction ([`usage`]). So a crash leaves usage and
//! data in agreement: both are as before the operation, or both after.
//! Records live in the live tree: a snapshot copies them with everything
//! else, and `snapshot_restore` brings back the limits and usage the tree
//! had then (in agreement with the data restored); `fsck` recounts.
//!
//! # Enforcement
//! Operations that know their length check it before any work
//! ([`Fs::check_quota`], [`crate::Registry::check_blob_quota`]; the fs
//! service calls them with the length a request announces). As a second
//! line, any step that would raise a target's usage above its limit fails
//! inside its transaction, which is then undone: nothing changes.

mod usage;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Bound;

use block::Transactional;
use cowbtree::Cursor;

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::{components, Fs};
use crate::names::RepoName;
use crate::node_cache::NodeCache;

pub const TAG_QUOTA: u8 = b'Q';
const KIND_DIR: u8 = b'd';
const KIND_REPO: u8 = b'r';
pub const QUOTA_VALUE_LEN: usize = 16;
/// Longest name a limit can be set on (key limit 255 minus 2).
pub const QUOTA_NAME_MAX: usize = 253;
/// Most limits one filesystem holds: listing and fsck stay bounded.
pub const QUOTAS_MAX: usize = 1024;

/// What a limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaTarget {
    /// A top-level directory, by its name (no `/`).
    Dir(String),
    Repo(RepoName),
}

impl QuotaTarget {
    /// `/top` (one component) as a directory target.
    pub fn dir(path: &str) -> Result<QuotaTarget, FsError> {
        let comps = components(path)?;
        match comps.as_slice() {
            [top] if top.len() <= QUOTA_NAME_MAX => Ok(QuotaTarget::Dir(top.to_string())),
            [top] => Err(FsError::NameTooLong {
                name: top.to_string(),
                max: QUOTA_NAME_MAX,
            }),
            _ => Err(FsError::InvalidPath {
                path: path.to_string(),
                reason: "a quota is set on a top-level directory (/name)",
            }),
        }
    }

    /// A repository target; `NameTooLong` past [`QUOTA_NAME_MAX`].
    pub fn repo(name: &RepoName) -> Result<QuotaTarget, FsError> {
        if name.as_str().len() > QUOTA_NAME_MAX {
            return Err(FsError::NameTooLong {
                name: name.to_string(),
                max: QUOTA_NAME_MAX,
            });
        }
        Ok(QuotaTarget::Repo(name.clone()))
    }

    fn key(&self) -> Vec<u8> {
        let (kind, name) = match self {
            QuotaTarget::Dir(n) => (KIND_DIR, n.as_bytes()),
            QuotaTarget::Repo(r) => (KIND_REPO, r.as_str().as_bytes()),
        };
        let mut k = Vec::with_capacity(2 + name.len());
        k.push(TAG_QUOTA);
        k.push(kind);
        k.extend_from_slice(name);
        k
    }

    fn from_key(k: &[u8]) -> Result<QuotaTarget, FsError> {
        let bad = FsError::Corrupt {
            what: "quota record key",
            ino: 0,
        };
        let (Some(&TAG_QUOTA), Some(&kind), Some(name)) = (k.first(), k.get(1), k.get(2..)) else {
            return Err(bad);
        };
        let name = core::str::from_utf8(name).map_err(|_| bad.clone())?;
        match kind {
            KIND_DIR if !name.is_empty() && !name.contains('/') => {
                Ok(QuotaTarget::Dir(name.to_string()))
            }
            KIND_REPO => RepoName::parse(name)
                .map(QuotaTarget::Repo)
                .map_err(|_| bad),
            _ => Err(bad),
        }
    }
}

impl fmt::Display for QuotaTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaTarget::Dir(n) => write!(f, "directory /{n}"),
            QuotaTarget::Repo(r) => write!(f, "repository {r}"),
        }
    }
}

/// One limit with its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub target: QuotaTarget,
    pub limit: u64,
    pub used: u64,
}

/// A record's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub limit: u64,
    pub used: u64,
}

impl Usage {
    fn encode(&self) -> [u8; QUOTA_VALUE_LEN] {
        let mut b = [0u8; QUOTA_VALUE_LEN];
        b[..8].copy_from_slice(&self.limit.to_le_bytes());
        b[8..].copy_from_slice(&self.used.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Usage, FsError> {
        let bad = FsError::Corrupt {
            what: "quota record value is not 16 bytes",
            ino: 0,
        };
        let limit = b.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok());
        let used = b.get(8..).and_then(|s| <[u8; 8]>::try_from(s).ok());
        match (limit, used, b.len()) {
            (Some(l), Some(u), QUOTA_VALUE_LEN) => Ok(Usage {
                limit: u64::from_le_bytes(l),
                used: u64::from_le_bytes(u),
            }),
            _ => Err(bad),
        }
    }
}

/// Which kinds of limit record the live tree holds (`any` counts a record
/// of an unknown kind too, as a scan of the whole range would): what every
/// write asks before it looks at limits. Kept in the fs state
/// (`State::quota_kinds`) and forgotten whenever a limit record is added
/// ([`Fs::quota_put`] of a new one) or removed ([`Fs::quota_remove`]), or
/// the live tree is replaced (mount, snapshot restore); a failed
/// operation restores it with the rest of the state. Before, each write
/// asked with a range scan, several per small put (issue #13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaKinds {
    any: bool,
    dirs: bool,
    repos: bool,
}

/// The key range of the limits of kind `kind` (`None`: every kind).
fn quota_key_range(kind: Option<u8>) -> ([u8; 2], [u8; 2]) {
    match kind {
        Some(k) => ([TAG_QUOTA, k], [TAG_QUOTA, k + 1]),
        None => ([TAG_QUOTA, 0], [TAG_QUOTA + 1, 0]),
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    pub(crate) fn quota_get(&mut self, t: &QuotaTarget) -> Result<Option<Usage>, FsError> {
        let key = t.key();
        if key.len() > 2 + QUOTA_NAME_MAX {
            return Ok(None); // no limit can be set on so long a name
        }
        let root = self.state.live;
        match cowbtree::get(&mut self.dev, &root, &key)? {
            Some(v) => Ok(Some(Usage::decode(&v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn quota_put(&mut self, t: &QuotaTarget, u: Usage) -> Result<(), FsError> {
        let old = self.live_insert(&t.key(), &u.encode())?;
        if old.is_none() {
            self.state.quota_kinds = None; // a new limit
        }
        Ok(())
    }

    /// Every limit of kind `kind` (`None`: all), in key order.
    fn quota_records(&mut self, kind: Option<u8>) -> Result<Vec<(QuotaTarget, Usage)>, FsError> {
        let mut c = self.quota_cursor(kind)?;
        let mut out = Vec::new();
        while let Some((k, v)) = c.next_entry()? {
            if out.len() > QUOTAS_MAX {
                return Err(FsError::Corrupt {
                    what: "more quota records than QUOTAS_MAX",
                    ino: 0,
                });
            }
            out.push((QuotaTarget::from_key(&k)?, Usage::decode(&v)?));
        }
        Ok(out)
    }

    /// Whether any limit of `kind` (`None`: any) is set: three seeks the
    /// first time, then remembered until a limit comes or goes
    /// ([`QuotaKinds`]).
    pub(crate) fn has_quotas(&mut self, kind: Option<u8>) -> Result<bool, FsError> {
        let known = match self.state.quota_kinds {
            Some(k) => k,
            None => {
                let k = QuotaKinds {
                    any: self.quota_cursor(None)?.next_entry()?.is_some(),
                    dirs: self.quota_cursor(Some(KIND_DIR))?.next_entry()?.is_some(),
                    repos: self.quota_cursor(Some(KIND_REPO))?.next_entry()?.is_some(),
                };
                self.state.quota_kinds = Some(k);
                k
            }
        };
        match kind {
            None => Ok(known.any),
            Some(KIND_DIR) => Ok(known.dirs),
            Some(KIND_REPO) => Ok(known.repos),
            Some(_) => Ok(self.quota_cursor(kind)?.next_entry()?.is_some()),
        }
    }

    /// A cursor over the live tree's limits of `kind` (`None`: every kind).
    fn quota_cursor(&mut self, kind: Option<u8>) -> Result<Cursor<'_, NodeCache<T>>, FsError> {
        let (lo, hi) = quota_key_range(kind);
        let root = self.state.live;
        Ok(cowbtree::range(
            &mut self.dev,
            &root,
            Bound::Included(&lo[..]),
            Bound::Excluded(&hi[..]),
        )?)
    }

    /// Sets (or changes) the limit on `target`, counting its usage now
    /// (one walk of the directory or repository: O(its files)). A limit
    /// below the usage is allowed: nothing more is then accepted.
    pub fn quota_set(&mut self, target: &QuotaTarget, limit: u64) -> Result<Quota, FsError> {
        self.atomically(|fs| {
            if fs.quota_get(target)?.is_none() && fs.quota_records(None)?.len() >= QUOTAS_MAX {
                return Err(FsError::TooManyQuotas { max: QUOTAS_MAX });
            }
            let used = fs.quota_recount(target)?;
            fs.quota_put(target, Usage { limit, used })?;
            Ok(Quota {
                target: target.clone(),
                limit,
                used,
            })
        })
    }

    /// Removes the limit on `target`; `false` if it had none.
    pub fn quota_remove(&mut self, target: &QuotaTarget) -> Result<bool, FsError> {
        self.atomically(|fs| {
            if fs.quota_get(target)?.is_none() {
                return Ok(false);
            }
            cowbtree::remove(&mut fs.dev, &mut fs.state.live, &target.key())?;
            fs.state.quota_kinds = None;
            Ok(true)
        })
    }

    /// Every limit with its usage (at most [`QUOTAS_MAX`]): directories
    /// first, then repositories, each by name.
    pub fn quotas(&mut self) -> Result<Vec<Quota>, FsError> {
        Ok(self
            .quota_records(None)?
            .into_iter()
            .map(|(target, u)| Quota {
                target,
                limit: u.limit,
                used: u.used,
            })
            .collect())
    }

    /// The limit and usage of `target`, if it has a limit.
    pub fn quota(&mut self, target: &QuotaTarget) -> Result<Option<Quota>, FsError> {
        Ok(self.quota_get(target)?.map(|u| Quota {
            target: target.clone(),
            limit: u.limit,
            used: u.used,
        }))
    }

    /// Refuses `growth` more bytes for `target` if that passes its limit.
    pub fn check_target(&mut self, target: &QuotaTarget, growth: u64) -> Result<(), FsError> {
        if growth == 0 {
            return Ok(());
        }
        match self.quota_get(target)? {
            Some(u) if u.used.saturating_add(growth) > u.limit => Err(FsError::QuotaExceeded {
                target: target.clone(),
                would: u.used.saturating_add(growth),
                limit: u.limit,
            }),
            _ => Ok(()),
        }
    }

    /// Refuses, before any work, a request that would make the file at
    /// `path` `growth` bytes larger than it is (a put: its new length minus
    /// the old file's; an append: its length) past a limit that covers
    /// `path`: its top-level directory's, and its repository's when `path`
    /// is an upload of one.
    pub fn check_quota(&mut self, path: &str, growth: u64) -> Result<(), FsError> {
        if growth == 0 || !self.has_quotas(None)? {
            return Ok(());
        }
        let comps: Vec<Vec<u8>> = components(path)?
            .into_iter()
            .map(|c| c.as_bytes().to_vec())
            .collect();
        let place = usage::Place::of(&comps);
        if let Some(top) = place.dir {
            self.check_target(&QuotaTarget::Dir(top), growth)?;
        }
        if let Some((repo, usage::RepoItem::Upload)) = place.repo {
            self.check_target(&QuotaTarget::Repo(repo), growth)?;
        }
        Ok(())
    }

    /// Refuses a write that would grow file `ino` to `new_size` past a
    /// limit: [`Fs::check_quota`] for a file known by number.
    pub(crate) fn check_quota_ino(&mut self, ino: u64, new_size: u64) -> Result<(), FsError> {
        if !self.has_quotas(None)? {
            return Ok(());
        }
        let inode = self.get_inode(ino)?;
        let Some(growth) = new_size.checked_sub(inode.size).filter(|g| *g > 0) else {
            return Ok(());
        };
        let Some(comps) = self.live_path_of(&inode)? else {
            return Ok(());
        };
        let place = usage::Place::of(&comps);
        if let Some(top) = place.dir {
            self.check_target(&QuotaTarget::Dir(top), growth)?;
        }
        if let Some((repo, usage::RepoItem::Upload)) = place.repo {
            self.check_target(&QuotaTarget::Repo(repo), growth)?;
        }
        Ok(())
    }

    /// fsck's part: each limit's stored usage against a recount.
    pub(crate) fn fsck_quotas(&mut self, report: &mut crate::fsck::FsckReport) {
        match self.quota_mismatches() {
            Ok(bad) => {
                for (t, stored, counted) in bad {
                    report.problem(alloc::format!(
                        "quota of {t}: usage stored as {stored} bytes, the tree holds {counted}"
                    ));
                }
            }
            Err(e) => report.problem(alloc::format!("quotas could not be recounted: {e}")),
        }
    }

    /// Each limit whose stored usage differs from a recount, as
    /// `(target, stored, counted)`: what `fsck` reports.
    pub fn quota_mismatches(&mut self) -> Result<Vec<(QuotaTarget, u64, u64)>, FsError> {
        let mut out = Vec::new();
        for (t, u) in self.quota_records(None)? {
            let counted = self.quota_recount(&t)?;
            if counted != u.used {
                out.push((t, u.used, counted));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trips_and_refuses_other_lengths() {
        let u = Usage {
            limit: 1 << 40,
            used: 12345,
        };
        assert_eq!(Usage::decode(&u.encode()), Ok(u));
        assert!(Usage::decode(&[0u8; 15]).is_err());
        assert!(Usage::decode(&[0u8; 17]).is_err());
    }

    #[test]
    fn key_round_trips_and_sorts_directories_first() {
        let d = QuotaTarget::dir("/data").unwrap();
        let r = QuotaTarget::repo(&RepoName::parse("library/alpine").unwrap()).unwrap();
        assert_eq!(QuotaTarget::from_key(&d.key()), Ok(d.clone()));
        assert_eq!(QuotaTarget::from_key(&r.key()), Ok(r.clone()));
        assert!(d.key() < r.key());
        assert!(QuotaTarget::from_key(b"Qx").is_err());
        assert!(QuotaTarget::from_key(b"Qrbad name!").is_err());
        assert!(QuotaTarget::dir("/a/b").is_err());
        assert!(QuotaTarget::dir("/").is_err());
    }

    #[test]
    fn fsck_reports_a_counter_that_disagrees() {
        use block::{BlockStore, Config, MemDevice};
        let store = BlockStore::format(MemDevice::new(4096), Config::default()).unwrap();
        let mut fs = Fs::open(store, 0).unwrap();
        fs.write_file("/b/f", &[7u8; 5000]).unwrap();
        let t = QuotaTarget::dir("/b").unwrap();
        fs.quota_set(&t, 1 << 20).unwrap();
        assert!(fs.fsck(false).unwrap().is_clean());
        // The usage record rewritten alone, as a bug would.
        fs.atomically(|fs| {
            fs.quota_put(
                &t,
                Usage {
                    limit: 1 << 20,
                    used: 5001,
                },
            )
        })
        .unwrap();
        let report = fs.fsck(false).unwrap();
        assert_eq!(
            report.problems,
            ["quota of directory /b: usage stored as 5001 bytes, the tree holds 5000"]
        );
    }
}
