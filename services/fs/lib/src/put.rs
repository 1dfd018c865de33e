//! Put sessions: replacing a file's contents, of any size, all or nothing.
//!
//! [`Fs::put_begin`] creates a *staging file*: an inode whose only name is a
//! dirent `put-<id>` in the staging directory ([`STAGING_DIR`], inode 0,
//! which nothing reachable from the root leads to). [`Fs::put_write`]
//! appends a piece to it, one batched transaction per piece, so memory and
//! transaction size stay bounded whatever the file's size. The pieces go
//! through the session's open chunk stream (`crate::stream`): each byte is
//! chunked, hashed and written once whatever the piece size, and the
//! unfinished chunk is stored by the finish, in its transaction.
//! [`Fs::put_finish`] then, in ONE transaction, creates the missing parent
//! directories, removes the file at the target path (if any) and moves the
//! staging inode there. [`Fs::put_abort`] removes the staging file.
//!
//! # Crash guarantee
//! Until `put_finish` commits, the target path shows its old contents (or
//! nothing); from then on the whole new contents. A staging file left by a
//! crash, or by a client that went away, is never visible as the file:
//! lookups, listings, walks and snapshot diffs start at the root, and its
//! size is not in `logical_bytes`. [`Fs::open_with`] removes every staging
//! file it finds at mount (no session survives a remount); until then GC
//! keeps its chunks, as it does an upload's.
//!
//! # Snapshots
//! A snapshot taken while a put is in progress holds the staging file's
//! records too (an O(1) root copy cannot leave them out), invisible as
//! above. [`Fs::snapshot_restore`] removes every staging file from the
//! restored tree in its own transaction, so a session in progress then
//! fails with [`FsError::PutAbandoned`]: it can never switch in a staging
//! file that a restore rolled back to an earlier length.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use block::{Durability, Transactional};

use crate::chunks::Chunks;
use crate::error::FsError;
use crate::fs::{components, parent_and_name, Fs, FILE_MODE};
use crate::records::{DirentValue, Inode, Kind, ROOT_INO, STAGING_DIR};
use crate::stream::{AppendStream, StreamError};

/// A put in progress: the target path and the staging file growing for it
/// (through its open chunk stream).
#[derive(Debug)]
pub struct PutSession {
    target: String,
    name: String,
    ino: u64,
    stream: AppendStream,
}

impl PutSession {
    /// The path the contents will replace.
    pub fn path(&self) -> &str {
        &self.target
    }
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.stream.size()
    }
}

/// A stream that cannot go on is an abandoned put.
fn abandoned(e: StreamError, target: &str) -> FsError {
    match e {
        StreamError::Fs(e) => e,
        StreamError::Stale => FsError::PutAbandoned {
            path: target.to_string(),
        },
    }
}

/// Staging files removed per [`Fs::reap_staging`] listing page.
const REAP_PAGE: usize = 64;

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Starts replacing the contents of `path`. Fails at once if `path`
    /// cannot become a file (a directory is there, or a component on the
    /// way is a file); missing parents are created by [`Fs::put_finish`].
    pub fn put_begin(&mut self, path: &str) -> Result<PutSession, FsError> {
        self.check_put_target(path)?;
        let mode = self.durability();
        self.set_durability(Durability::Batched);
        let made = self.atomically(|fs| {
            let name = format!("put-{:016x}", fs.alloc_upload_id());
            let now = fs.now();
            let ino = fs.alloc_ino();
            let inode = Inode {
                kind: Kind::File,
                mode: FILE_MODE,
                parent: STAGING_DIR,
                size: 0,
                mtime: now,
                ctime: now,
                name: name.as_bytes().to_vec(),
            };
            fs.put_inode(ino, &inode)?;
            let d = DirentValue {
                ino,
                kind: Kind::File,
            };
            fs.insert_dirent(STAGING_DIR, &name, &d)?;
            Ok((name, ino))
        });
        self.set_durability(mode);
        let (name, ino) = made?;
        Ok(PutSession {
            target: path.to_string(),
            name,
            ino,
            stream: AppendStream::new(ino, 0),
        })
    }

    /// Appends `data` to the session's staging file: gathered in memory
    /// until a step (`stream::STREAM_STEP`) is due, then one batched
    /// transaction (durable with the finish, or a later sync).
    pub fn put_write(&mut self, s: &mut PutSession, data: &[u8]) -> Result<(), FsError> {
        if data.is_empty() {
            return Ok(());
        }
        // A lookup, no transaction: a restore meanwhile fails the put now.
        self.check_staged(s)?;
        if s.stream.gather(data) {
            return Ok(());
        }
        let mode = self.durability();
        self.set_durability(Durability::Batched);
        let (name, ino, target) = (&s.name, s.ino, &s.target);
        let stream = &mut s.stream;
        let r = self.atomically(|fs| {
            fs.check_staged_parts(name, ino, target)?;
            fs.stream_push(stream, data)
                .map_err(|e| abandoned(e, target))
        });
        self.set_durability(mode);
        if r.is_err() {
            // Its transaction was undone: the stream cannot go on.
            s.stream.poison();
        }
        r
    }

    /// Switches the staging file in at the session's path, in one
    /// transaction (creating missing parents, replacing a file there);
    /// returns the file's size. On failure the staging file is removed.
    pub fn put_finish(&mut self, mut s: PutSession) -> Result<u64, FsError> {
        let r = self.atomically(|fs| {
            fs.check_staged(&s)?;
            fs.stream_flush(&mut s.stream)
                .map_err(|e| abandoned(e, &s.target))?;
            let (parent, name) = parent_and_name(&s.target)?;
            let pino = fs.mkdir_all(&parent)?;
            if let Some(old) = fs.lookup(pino, name)? {
                if old.kind != Kind::File {
                    return Err(FsError::IsADirectory {
                        path: s.target.clone(),
                    });
                }
                fs.remove_file_ino(old.ino)?;
            }
            fs.remove_dirent(STAGING_DIR, &s.name)?;
            let d = DirentValue {
                ino: s.ino,
                kind: Kind::File,
            };
            fs.insert_dirent(pino, name, &d)?;
            let now = fs.now();
            let mut inode = fs.get_inode(s.ino)?;
            inode.parent = pino;
            inode.name = name.as_bytes().to_vec();
            inode.mtime = now;
            inode.ctime = now;
            fs.put_inode(s.ino, &inode)?;
            fs.quota_file_changed(&inode, None, Some(inode.size))?;
            fs.state.meta.logical_bytes = fs.state.meta.logical_bytes.saturating_add(inode.size);
            fs.touch_dir(pino, now)?;
            Ok(inode.size)
        });
        match r {
            Ok(size) => Ok(size),
            Err(e) => {
                // Best effort: what is left is removed at the next mount.
                let _ = self.put_abort(s);
                Err(e)
            }
        }
    }

    /// Drops the session and its staging file (fine if already gone).
    pub fn put_abort(&mut self, s: PutSession) -> Result<(), FsError> {
        self.atomically(|fs| match fs.check_staged(&s) {
            Ok(()) => fs.remove_staged(&s.name, s.ino),
            Err(FsError::PutAbandoned { .. }) => Ok(()),
            Err(e) => Err(e),
        })
    }

    /// Replaces `path`'s contents with everything `src` yields, `piece`
    /// bytes per transaction: a whole put session.
    pub fn put_stream<S: crate::io::Source + ?Sized>(
        &mut self,
        path: &str,
        src: &mut S,
        piece: usize,
    ) -> Result<u64, FsError> {
        let mut buf = alloc::vec![0u8; piece.max(1)];
        let mut s = self.put_begin(path)?;
        loop {
            let step = crate::io::read_full(src, &mut buf)
                .map_err(FsError::Source)
                .and_then(|n| self.put_write(&mut s, &buf[..n]).map(|()| n));
            match step {
                Ok(0) => return self.put_finish(s),
                Ok(_) => {}
                Err(e) => {
                    let _ = self.put_abort(s);
                    return Err(e);
                }
            }
        }
    }

    /// Removes every staging file of the live tree (puts that will never
    /// finish: after a mount, or in a tree a restore brought back), each in
    /// the current transaction or one of its own; returns how many.
    pub(crate) fn reap_staging(&mut self) -> Result<u64, FsError> {
        let mut removed = 0u64;
        loop {
            let root = self.state.live;
            let page = self.list_ino(&root, STAGING_DIR, None, REAP_PAGE)?;
            if page.is_empty() {
                return Ok(removed);
            }
            for e in page {
                self.atomically(|fs| fs.remove_staged(&e.name, e.ino))?;
                removed += 1;
            }
        }
    }

    /// The session's staging dirent still names its inode.
    fn check_staged(&mut self, s: &PutSession) -> Result<(), FsError> {
        self.check_staged_parts(&s.name, s.ino, &s.target)
    }

    fn check_staged_parts(&mut self, name: &str, ino: u64, target: &str) -> Result<(), FsError> {
        match self.lookup(STAGING_DIR, name)? {
            Some(d) if d.ino == ino && d.kind == Kind::File => Ok(()),
            _ => Err(FsError::PutAbandoned {
                path: target.to_string(),
            }),
        }
    }

    fn remove_staged(&mut self, name: &str, ino: u64) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        if inode.kind != Kind::File || inode.parent != STAGING_DIR {
            return Err(FsError::Corrupt {
                what: "staging entry names an inode that is not a staging file",
                ino,
            });
        }
        self.remove_file_ino(ino)?;
        self.remove_dirent(STAGING_DIR, name)
    }

    /// Refuses a target that cannot become a file, before any data moves.
    fn check_put_target(&mut self, path: &str) -> Result<(), FsError> {
        let comps: Vec<&str> = components(path)?;
        let Some((last, dirs)) = comps.split_last() else {
            return Err(FsError::InvalidPath {
                path: path.to_string(),
                reason: "is the root",
            });
        };
        let mut ino = ROOT_INO;
        for c in dirs {
            match self.lookup(ino, c)? {
                Some(d) if d.kind == Kind::Dir => ino = d.ino,
                Some(_) => {
                    return Err(FsError::NotADirectory {
                        path: path.to_string(),
                    })
                }
                // Created by the finish.
                None => return Ok(()),
            }
        }
        match self.lookup(ino, last)? {
            Some(d) if d.kind == Kind::Dir => Err(FsError::IsADirectory {
                path: path.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use block::{BlockStore, Config, MemDevice};

    fn fresh() -> Fs<BlockStore<MemDevice>> {
        let config = Config {
            cache_blocks: 64,
            journal_blocks: 256,
            group_commit_blocks: 32,
        };
        let store = BlockStore::format(MemDevice::new(2048), config).unwrap();
        Fs::open(store, 0).unwrap()
    }

    #[test]
    fn staging_is_invisible_until_finish() {
        let mut fs = fresh();
        fs.write_file("/d/f", b"old").unwrap();
        let mut s = fs.put_begin("/d/f").unwrap();
        fs.put_write(&mut s, &[7u8; 100_000]).unwrap();
        assert_eq!(fs.read_file("/d/f", u64::MAX).unwrap(), b"old");
        assert_eq!(fs.logical_bytes(), 3);
        let names: Vec<String> = fs.walk(None).unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(names, ["/d", "/d/f"]);
        assert!(fs.fsck(true).unwrap().is_clean());
        assert_eq!(fs.put_finish(s).unwrap(), 100_000);
        assert_eq!(fs.read_file("/d/f", u64::MAX).unwrap(), [7u8; 100_000]);
        assert_eq!(fs.logical_bytes(), 100_000);
        assert!(fs.fsck(true).unwrap().is_clean());
    }

    #[test]
    fn bad_targets_fail_at_begin() {
        let mut fs = fresh();
        fs.write_file("/file", b"x").unwrap();
        fs.mkdir_all("/dir").unwrap();
        assert!(matches!(
            fs.put_begin("/dir"),
            Err(FsError::IsADirectory { .. })
        ));
        assert!(matches!(
            fs.put_begin("/file/x"),
            Err(FsError::NotADirectory { .. })
        ));
        assert!(matches!(
            fs.put_begin("rel"),
            Err(FsError::InvalidPath { .. })
        ));
        // A new path under missing parents is fine; they come with the finish.
        let s = fs.put_begin("/new/deep/f").unwrap();
        assert!(!fs.exists("/new").unwrap());
        assert_eq!(fs.put_finish(s).unwrap(), 0);
        assert_eq!(fs.stat("/new/deep/f").unwrap().size, 0);
    }

    #[test]
    fn abort_and_reap_leave_nothing() {
        let mut fs = fresh();
        let mut s = fs.put_begin("/a").unwrap();
        fs.put_write(&mut s, b"gone").unwrap();
        fs.put_abort(s).unwrap();
        let mut left = fs.put_begin("/b").unwrap();
        fs.put_write(&mut left, &[1u8; 70_000]).unwrap();
        // Remount without finishing: the staging file is reaped.
        let store = fs.into_device();
        let mut fs = Fs::open(store, 0).unwrap();
        assert!(fs.events().any(|e| e.contains("1 staging file")));
        assert!(!fs.exists("/b").unwrap());
        assert!(fs.put_finish(left).is_err());
        let root = fs.state.live;
        assert!(fs.list_ino(&root, STAGING_DIR, None, 8).unwrap().is_empty());
        assert_eq!(fs.logical_bytes(), 0);
        assert!(fs.fsck(true).unwrap().is_clean());
    }

    #[test]
    fn restore_abandons_puts_in_progress() {
        let mut fs = fresh();
        let mut s = fs.put_begin("/f").unwrap();
        fs.put_write(&mut s, b"first half ").unwrap();
        fs.snapshot_create("mid").unwrap();
        fs.put_write(&mut s, b"second half").unwrap();
        assert!(fs.snapshot_diff(Some("mid"), None).unwrap().is_empty());
        fs.snapshot_restore("mid").unwrap();
        // The restored tree's copy of the staging file (only the first half)
        // must never be switched in.
        assert!(matches!(
            fs.put_write(&mut s, b"more"),
            Err(FsError::PutAbandoned { .. })
        ));
        assert!(matches!(
            fs.put_finish(s),
            Err(FsError::PutAbandoned { .. })
        ));
        assert!(!fs.exists("/f").unwrap());
        assert!(fs.fsck(true).unwrap().is_clean());
    }
}
