//! The namespace: paths, directories, inodes and files over one cowbtree,
//! file contents as content-store chunks, every change one block transaction.
//!
//! # Operation protocol
//! Each public operation runs in one block transaction: `begin`, change the
//! tree (and the content index), write the root block ([`crate::root`]),
//! `commit`. On any error the transaction is aborted and the in-memory roots
//! go back to what they were, so a failed operation changes nothing. Several
//! operations can be grouped into one transaction with [`Fs::atomically`]
//! (the registry writes a manifest, its links and its tag that way).
//!
//! # Crash guarantee
//! After a crash the filesystem is exactly as it was after some prefix of
//! the acknowledged operations: an operation whose commit returned in
//! `Durable` mode is in that prefix; in `Batched` mode it is once a later
//! durable commit or [`Fs::sync`] returned. Never a half-done operation.
//!
//! # Invariants
//! See [`crate::records`] for the tree's invariants; in addition the root
//! block's `logical_bytes` is the sum of the sizes of the live tree's files.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

use crate::chunks::{ChunkRef, ChunkStore, Chunks};
use crate::error::FsError;
use crate::records::{
    self, dirent_key, extent_key, inode_key, DirentValue, Extent, ExtentValue, Inode, Kind,
    NAME_MAX, ROOT_INO, STAGING_DIR,
};
use crate::root::{RootBlock, BLOCK_LEN, CONTENT_ROOT_MAX, TREE_ROOT_LEN};

/// Default permission bits of new files and directories (the reference
/// registry's 0644 / 0755).
pub const FILE_MODE: u16 = 0o644;
pub const DIR_MODE: u16 = 0o755;

/// Block-layer root slot the filesystem owns by default.
pub const DEFAULT_ROOT_SLOT: usize = 0;

/// An inode together with its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub ino: u64,
    pub kind: Kind,
    pub mode: u16,
    pub size: u64,
    pub mtime: u64,
    pub ctime: u64,
}

impl Metadata {
    fn new(ino: u64, i: &Inode) -> Metadata {
        Metadata {
            ino,
            kind: i.kind,
            mode: i.mode,
            size: i.size,
            mtime: i.mtime,
            ctime: i.ctime,
        }
    }
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// One directory entry as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub kind: Kind,
}

/// The in-memory copy of everything the root block names. Cloned before
/// each operation so a failed one can be undone.
#[derive(Clone)]
pub(crate) struct State<C> {
    pub meta: RootBlock,
    pub live: TreeRoot,
    pub snaps: TreeRoot,
    pub content: C,
}

/// The last chunk a reader fetched, so a sequential reader whose buffer
/// ends inside a chunk does not fetch (and verify) it twice.
#[derive(Default)]
pub(crate) struct ChunkCache {
    pub key: Option<ChunkRef>,
    pub data: Vec<u8>,
}

impl ChunkCache {
    pub fn load<T: Transactional, C: Chunks<T>>(
        &mut self,
        dev: &mut T,
        content: &mut C,
        rb: &mut C::ReadBuf,
        r: &ChunkRef,
        check: bool,
    ) -> Result<&[u8], FsError> {
        if self.key.as_ref() != Some(r) {
            self.key = None;
            content.read_chunk(dev, rb, r, &mut self.data)?;
            if check {
                crate::received::check_chunk(r, &self.data)?;
            }
            self.key = Some(*r);
        }
        Ok(&self.data)
    }
}

/// Bytes written at a file offset (zeros are never written: a gap
/// becomes a hole record, see [`records`]).
pub(crate) enum Part<'a> {
    Bytes(&'a [u8]),
}

/// A mounted filesystem over a transactional block store `T`, its file
/// contents in the content store `C` (in-process by default).
pub struct Fs<T: Transactional, C: Chunks<T> = ChunkStore> {
    pub(crate) dev: T,
    slot: usize,
    pub(crate) state: State<C>,
    durability: Durability,
    in_txn: bool,
    time: Option<u64>,
    read_buf: C::ReadBuf,
    events: VecDeque<String>,
    /// Check every chunk's bytes the content store returns (on when it is
    /// another process: [`Fs::check_received_chunks`]).
    check_chunks: bool,
    /// Longest length one request may announce ([`crate::limits`]).
    pub(crate) request_limit: u64,
}

/// Recent events kept for `stats` and crash reports.
pub const EVENTS_KEPT: usize = 32;

/// A path split into validated components.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, FsError> {
    let invalid = |reason: &'static str| FsError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| invalid("not absolute"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for c in rest.split('/') {
        if c.is_empty() {
            return Err(invalid("empty component"));
        }
        if c == "." || c == ".." {
            return Err(invalid("'.' or '..' component"));
        }
        if c.len() > NAME_MAX {
            return Err(FsError::NameTooLong {
                name: c.to_string(),
                max: NAME_MAX,
            });
        }
        if c.bytes().any(|b| b == 0) {
            return Err(invalid("NUL byte"));
        }
        out.push(c);
    }
    Ok(out)
}

pub(crate) fn parent_and_name(path: &str) -> Result<(String, &str), FsError> {
    let comps = components(path)?;
    let Some((name, dirs)) = comps.split_last() else {
        return Err(FsError::InvalidPath {
            path: path.to_string(),
            reason: "is the root",
        });
    };
    let mut parent = String::new();
    for d in dirs {
        parent.push('/');
        parent.push_str(d);
    }
    if parent.is_empty() {
        parent.push('/');
    }
    Ok((parent, name))
}

impl<T: Transactional> Fs<T> {
    /// Mounts the filesystem in root slot `slot` with the content store
    /// in-process (see [`Fs::open_with`]).
    pub fn open(dev: T, slot: usize) -> Result<Fs<T>, FsError> {
        Fs::open_with(dev, slot, ChunkStore::default())
    }
}

impl<T: Transactional, C: Chunks<T>> Fs<T, C> {
    /// Mounts the filesystem in root slot `slot`, formatting it if the slot
    /// was never written and the store holds no data blocks (a zero root
    /// on a store in use is `RootLost`, never formatted over). `chunks` is
    /// the content store, loaded from (or formatted with) this root.
    pub fn open_with(mut dev: T, slot: usize, mut chunks: C) -> Result<Fs<T, C>, FsError> {
        let mut buf = vec![0u8; BLOCK_LEN];
        let root_block = dev.root_block(slot);
        dev.read(root_block, &mut buf)?;
        let mut fixed = [0u8; BLOCK_LEN];
        fixed.copy_from_slice(&buf);
        let state = match RootBlock::decode(&fixed).map_err(FsError::BadRootBlock)? {
            Some(meta) => {
                let live = TreeRoot::decode(&meta.fs_tree).map_err(|e| FsError::BadTreeRoot {
                    which: "live tree",
                    problem: e,
                })?;
                let snaps =
                    TreeRoot::decode(&meta.snapshots).map_err(|e| FsError::BadTreeRoot {
                        which: "snapshot table",
                        problem: e,
                    })?;
                chunks.load(&mut dev, meta.content_root())?;
                State {
                    meta,
                    live,
                    snaps,
                    content: chunks,
                }
            }
            None => {
                // A never-written slot on a store with data blocks in use
                // means the root block was lost, not that this is a new
                // filesystem: refuse rather than format over the data.
                let data_start = dev.root_block(block::ROOT_SLOTS - 1) + 1;
                for b in data_start..dev.block_count() {
                    if dev.is_allocated(b)? {
                        return Err(FsError::RootLost {
                            slot,
                            allocated_block: b,
                        });
                    }
                }
                return Fs::format(dev, slot, chunks);
            }
        };
        let mut fs = Fs {
            dev,
            slot,
            state,
            durability: Durability::Durable,
            in_txn: false,
            time: None,
            read_buf: C::ReadBuf::default(),
            check_chunks: false,
            request_limit: u64::MAX,
            events: VecDeque::new(),
        };
        let m = &fs.state.meta;
        let text = alloc::format!(
            "mounted slot {slot}: {} operations, {} logical bytes, next inode {}",
            m.sequence,
            m.logical_bytes,
            m.next_ino
        );
        fs.event(text);
        // No put session survives a remount: its staging file is garbage.
        match fs.reap_staging() {
            Ok(0) => {}
            Ok(n) => fs.event(alloc::format!(
                "removed {n} staging file(s) of puts that did not finish"
            )),
            Err(e) => fs.event(alloc::format!(
                "could not remove the staging files of unfinished puts: {e}"
            )),
        }
        Ok(fs)
    }

    fn format(mut dev: T, slot: usize, mut content: C) -> Result<Fs<T, C>, FsError> {
        dev.begin()?;
        let made = (|| {
            let mut live = cowbtree::create(&mut dev)?;
            let snaps = cowbtree::create(&mut dev)?;
            content.format(&mut dev)?;
            let root = Inode {
                kind: Kind::Dir,
                mode: DIR_MODE,
                parent: ROOT_INO,
                size: 0,
                mtime: 0,
                ctime: 0,
                name: Vec::new(),
            };
            cowbtree::insert(&mut dev, &mut live, &inode_key(ROOT_INO), &root.encode())?;
            let meta = RootBlock {
                sequence: 0,
                next_ino: ROOT_INO + 1,
                clock: 0,
                next_upload: 0,
                logical_bytes: 0,
                fs_tree: [0; TREE_ROOT_LEN],
                snapshots: [0; TREE_ROOT_LEN],
                content_len: 0,
                content: [0; CONTENT_ROOT_MAX],
            };
            Ok::<State<C>, FsError>(State {
                meta,
                live,
                snaps,
                content,
            })
        })();
        let state = match made {
            Ok(s) => s,
            Err(e) => {
                dev.abort();
                return Err(e);
            }
        };
        let mut fs = Fs {
            dev,
            slot,
            state,
            durability: Durability::Durable,
            in_txn: true,
            time: None,
            read_buf: C::ReadBuf::default(),
            check_chunks: false,
            request_limit: u64::MAX,
            events: VecDeque::new(),
        };
        if let Err(e) = fs.write_root() {
            fs.dev.abort();
            return Err(e);
        }
        fs.dev.commit(Durability::Durable)?;
        fs.in_txn = false;
        fs.event(alloc::format!("formatted slot {slot}"));
        Ok(fs)
    }

    /// `Durable`: each operation is durable when it returns. `Batched`:
    /// operations become durable at the next durable commit or [`Fs::sync`].
    pub fn set_durability(&mut self, d: Durability) {
        self.durability = d;
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Makes every operation so far durable.
    pub fn sync(&mut self) -> Result<(), FsError> {
        Ok(self.dev.sync()?)
    }

    /// Use `t` as the time of later operations; `None`: a logical clock
    /// that counts operations.
    pub fn set_time(&mut self, t: Option<u64>) {
        self.time = t;
    }

    /// Records an event in the ring of the last [`EVENTS_KEPT`].
    pub fn event(&mut self, text: String) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(text);
    }

    /// Recent events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(String::as_str)
    }

    /// Gives the block store back (tests reopen it after a simulated crash).
    pub fn into_device(self) -> T {
        self.dev
    }

    pub fn device_mut(&mut self) -> &mut T {
        &mut self.dev
    }

    pub fn root_slot(&self) -> usize {
        self.slot
    }

    pub(crate) fn now(&mut self) -> u64 {
        self.state.meta.clock = self.state.meta.clock.saturating_add(1);
        self.time.unwrap_or(self.state.meta.clock)
    }

    fn write_root(&mut self) -> Result<(), FsError> {
        let s = &mut self.state;
        s.meta.sequence = s.meta.sequence.wrapping_add(1);
        s.meta.fs_tree = s.live.encode();
        s.meta.snapshots = s.snaps.encode();
        let content = s.content.encode_root();
        crate::received::check_content_root(
            &content,
            Some(s.meta.content_root()),
            self.dev.block_count(),
        )?;
        s.meta
            .set_content_root(&content)
            .map_err(FsError::BadRootBlock)?;
        let bytes = s.meta.encode();
        let block = self.dev.root_block(self.slot);
        self.dev.write(block, &bytes)?;
        Ok(())
    }

    /// Runs `f` as one transaction (or as part of the enclosing one): all of
    /// its changes commit together or none does.
    pub fn atomically<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, FsError>,
    ) -> Result<R, FsError> {
        if self.in_txn {
            return f(self);
        }
        let saved = self.state.clone();
        self.dev.begin()?;
        self.in_txn = true;
        let result = f(self).and_then(|r| {
            self.write_root()?;
            Ok(r)
        });
        self.in_txn = false;
        match result {
            Ok(r) => match self.dev.commit(self.durability) {
                Ok(()) => Ok(r),
                Err(e) => {
                    // The commit may or may not have reached the disk; the
                    // caller should remount. Keep memory at the old state.
                    self.state = saved;
                    Err(e.into())
                }
            },
            Err(e) => {
                self.dev.abort();
                self.state = saved;
                Err(e)
            }
        }
    }

    // ---- lookups (no transaction needed) ----

    pub(crate) fn get_inode_in(&mut self, root: &TreeRoot, ino: u64) -> Result<Inode, FsError> {
        let v = cowbtree::get(&mut self.dev, root, &inode_key(ino))?.ok_or(FsError::Corrupt {
            what: "inode missing",
            ino,
        })?;
        Inode::decode(&v).map_err(|e| FsError::BadRecord { ino, problem: e })
    }

    pub(crate) fn lookup_in(
        &mut self,
        root: &TreeRoot,
        parent: u64,
        name: &str,
    ) -> Result<Option<DirentValue>, FsError> {
        match cowbtree::get(&mut self.dev, root, &dirent_key(parent, name.as_bytes()))? {
            Some(v) => Ok(Some(DirentValue::decode(&v).map_err(|e| {
                FsError::BadRecord {
                    ino: parent,
                    problem: e,
                }
            })?)),
            None => Ok(None),
        }
    }

    /// The inode number and inode at `path` in the tree `root`.
    pub(crate) fn resolve_in(
        &mut self,
        root: &TreeRoot,
        path: &str,
    ) -> Result<(u64, Inode), FsError> {
        let comps = components(path)?;
        let mut ino = ROOT_INO;
        let mut inode = self.get_inode_in(root, ino)?;
        for c in comps {
            if inode.kind != Kind::Dir {
                return Err(FsError::NotADirectory {
                    path: path.to_string(),
                });
            }
            let d = self
                .lookup_in(root, ino, c)?
                .ok_or_else(|| FsError::NotFound {
                    path: path.to_string(),
                })?;
            ino = d.ino;
            inode = self.get_inode_in(root, ino)?;
        }
        Ok((ino, inode))
    }

    fn resolve(&mut self, path: &str) -> Result<(u64, Inode), FsError> {
        let root = self.state.live;
        self.resolve_in(&root, path)
    }

    pub(crate) fn get_inode(&mut self, ino: u64) -> Result<Inode, FsError> {
        let root = self.state.live;
        self.get_inode_in(&root, ino)
    }

    pub(crate) fn lookup(
        &mut self,
        parent: u64,
        name: &str,
    ) -> Result<Option<DirentValue>, FsError> {
        let root = self.state.live;
        self.lookup_in(&root, parent, name)
    }

    /// Metadata of `path`, or `NotFound`.
    pub fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        let (ino, i) = self.resolve(path)?;
        Ok(Metadata::new(ino, &i))
    }

    pub fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        match self.resolve(path) {
            Ok(_) => Ok(true),
            Err(FsError::NotFound { .. }) | Err(FsError::NotADirectory { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Entries of the directory `path` whose names sort after `after`, at
    /// most `limit` of them: call again with the last name to continue.
    pub fn list(
        &mut self,
        path: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let root = self.state.live;
        self.list_in(&root, path, after, limit)
    }

    pub(crate) fn list_in(
        &mut self,
        root: &TreeRoot,
        path: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let (ino, inode) = self.resolve_in(root, path)?;
        if inode.kind != Kind::Dir {
            return Err(FsError::NotADirectory {
                path: path.to_string(),
            });
        }
        self.list_ino(root, ino, after, limit)
    }

    pub(crate) fn list_ino(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let (lo, hi) = records::dirent_range(ino);
        let start_key;
        let start = match after {
            Some(name) => {
                start_key = dirent_key(ino, name.as_bytes());
                Bound::Excluded(start_key.as_slice())
            }
            None => Bound::Included(lo.as_slice()),
        };
        let mut cursor = cowbtree::range(&mut self.dev, root, start, Bound::Excluded(&hi))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((k, v)) = cursor.next_entry()? else {
                break;
            };
            let name = match records::parse_key(&k) {
                Ok(records::Key::Dirent { name, .. }) => name,
                _ => {
                    return Err(FsError::Corrupt {
                        what: "non-dirent key in dirent range",
                        ino,
                    })
                }
            };
            let d = DirentValue::decode(&v).map_err(|e| FsError::BadRecord { ino, problem: e })?;
            let name = core::str::from_utf8(name).map_err(|_| FsError::Corrupt {
                what: "directory entry name not UTF-8",
                ino,
            })?;
            out.push(DirEntry {
                name: name.to_string(),
                ino: d.ino,
                kind: d.kind,
            });
        }
        Ok(out)
    }

    /// Reads into `buf` from `offset` of the file `ino`; returns the bytes
    /// read (0 at or past the end). Each chunk's BLAKE3 is verified before
    /// any of its bytes are copied out. A chunk that fails (corrupt or
    /// unreadable) ends the read early with the verified bytes before it;
    /// a read starting in that chunk fails with
    /// [`FsError::ChunkUnreadable`], which names the chunk's file offset.
    pub fn read_at(&mut self, ino: u64, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let root = self.state.live;
        let mut cache = ChunkCache::default();
        self.read_at_in(&root, ino, offset, buf, &mut cache)
    }

    /// `read_at` with a caller-kept chunk buffer (sequential readers reuse it).
    pub(crate) fn read_at_in(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        offset: u64,
        buf: &mut [u8],
        cache: &mut ChunkCache,
    ) -> Result<usize, FsError> {
        let inode = self.get_inode_in(root, ino)?;
        if inode.kind != Kind::File {
            return Err(FsError::Corrupt {
                what: "read of a directory inode",
                ino,
            });
        }
        if offset >= inode.size || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(inode.size - offset).unwrap_or(usize::MAX));
        let (lo, hi) = records::extent_range_after(ino, offset);
        let mut done = 0usize;
        let mut pos = offset;
        let mut extents = Vec::new();
        {
            let mut cursor = cowbtree::range(
                &mut self.dev,
                root,
                Bound::Included(&lo),
                Bound::Excluded(&hi),
            )?;
            let mut covered = offset;
            while covered < offset + want as u64 {
                let Some((k, v)) = cursor.next_entry()? else {
                    break;
                };
                let (end, ext) = decode_extent(ino, &k, &v)?;
                covered = end;
                extents.push((end, ext));
            }
        }
        for (end, ext) in extents {
            let start = end.checked_sub(ext.len()).ok_or(FsError::Corrupt {
                what: "extent starts before 0",
                ino,
            })?;
            if start > pos {
                return Err(FsError::Corrupt {
                    what: "gap in extent map",
                    ino,
                });
            }
            let ext = match ext {
                Extent::Chunk(c) => c,
                Extent::Hole(_) => {
                    // A hole reads as zeros; nothing is stored to verify.
                    let n = usize::try_from(end - pos)
                        .unwrap_or(usize::MAX)
                        .min(want - done);
                    buf[done..done + n].fill(0);
                    done += n;
                    pos += n as u64;
                    if done == want {
                        break;
                    }
                    continue;
                }
            };
            let r = ChunkRef {
                hash: ext.hash,
                len: ext.len,
            };
            let scratch = match cache.load(
                &mut self.dev,
                &mut self.state.content,
                &mut self.read_buf,
                &r,
                self.check_chunks,
            ) {
                Ok(s) => s,
                // The verified bytes before a bad chunk are returned first
                // (a short read); the next read, which starts at this
                // chunk, fails and names it.
                Err(_) if done > 0 => return Ok(done),
                Err(e) => {
                    return Err(FsError::ChunkUnreadable {
                        ino,
                        offset: start,
                        len: ext.len,
                        problem: alloc::boxed::Box::new(e),
                    })
                }
            };
            let from = usize::try_from(pos - start).unwrap_or(usize::MAX);
            let n = (want - done).min(scratch.len().saturating_sub(from));
            // Keys sort by end offset, so `from` lies inside the chunk; a
            // lying map is an error, not a slice panic.
            let piece = scratch
                .get(from..from.saturating_add(n))
                .filter(|p| !p.is_empty())
                .ok_or(FsError::Corrupt {
                    what: "extent does not cover the offset",
                    ino,
                })?;
            buf[done..done + n].copy_from_slice(piece);
            done += n;
            pos += n as u64;
            if done == want {
                break;
            }
        }
        if done < want {
            return Err(FsError::Corrupt {
                what: "extent map shorter than file size",
                ino,
            });
        }
        Ok(done)
    }

    /// Reads a whole small file (links, manifests) of at most `max` bytes.
    pub fn read_file(&mut self, path: &str, max: u64) -> Result<Vec<u8>, FsError> {
        let (ino, inode) = self.resolve(path)?;
        if inode.kind != Kind::File {
            return Err(FsError::IsADirectory {
                path: path.to_string(),
            });
        }
        if inode.size > max {
            return Err(FsError::FileTooLarge {
                path: path.to_string(),
                size: inode.size,
                max,
            });
        }
        let root = self.state.live;
        self.read_whole(&root, ino, inode.size)
    }

    /// Reads a whole file, growing the buffer as bytes arrive (a size from
    /// the disk is not trusted with an allocation before the extents back it).
    pub(crate) fn read_whole(
        &mut self,
        root: &TreeRoot,
        ino: u64,
        size: u64,
    ) -> Result<Vec<u8>, FsError> {
        const STEP: usize = 256 * 1024;
        let mut out = Vec::new();
        let mut cache = ChunkCache::default();
        let mut pos = 0u64;
        while pos < size {
            let step = usize::try_from(size - pos).unwrap_or(STEP).min(STEP);
            let at = out.len();
            out.resize(at + step, 0);
            let n = self.read_at_in(root, ino, pos, &mut out[at..], &mut cache)?;
            out.truncate(at + n);
            if n == 0 {
                break;
            }
            pos += n as u64;
        }
        Ok(out)
    }

    // ---- changes ----

    pub(crate) fn alloc_ino(&mut self) -> u64 {
        let ino = self.state.meta.next_ino;
        self.state.meta.next_ino = ino.saturating_add(1);
        ino
    }

    pub(crate) fn put_inode(&mut self, ino: u64, inode: &Inode) -> Result<(), FsError> {
        cowbtree::insert(
            &mut self.dev,
            &mut self.state.live,
            &inode_key(ino),
            &inode.encode(),
        )?;
        Ok(())
    }

    pub(crate) fn touch_dir(&mut self, ino: u64, now: u64) -> Result<(), FsError> {
        let mut d = self.get_inode(ino)?;
        d.mtime = now;
        d.ctime = now;
        self.put_inode(ino, &d)
    }

    /// Creates `name` in directory `parent`; fails if it exists.
    fn create_in(
        &mut self,
        parent: u64,
        name: &str,
        kind: Kind,
        mode: u16,
        path: &str,
    ) -> Result<u64, FsError> {
        if self.lookup(parent, name)?.is_some() {
            return Err(FsError::AlreadyExists {
                path: path.to_string(),
            });
        }
        let now = self.now();
        let ino = self.alloc_ino();
        let inode = Inode {
            kind,
            mode,
            parent,
            size: 0,
            mtime: now,
            ctime: now,
            name: name.as_bytes().to_vec(),
        };
        self.put_inode(ino, &inode)?;
        let d = DirentValue { ino, kind };
        cowbtree::insert(
            &mut self.dev,
            &mut self.state.live,
            &dirent_key(parent, name.as_bytes()),
            &d.encode(),
        )?;
        self.touch_dir(parent, now)?;
        Ok(ino)
    }

    fn parent_dir(&mut self, path: &str) -> Result<(u64, String), FsError> {
        let (parent, name) = parent_and_name(path)?;
        let (pino, p) = self.resolve(&parent)?;
        if p.kind != Kind::Dir {
            return Err(FsError::NotADirectory { path: parent });
        }
        Ok((pino, name.to_string()))
    }

    /// Creates an empty file; `AlreadyExists` if anything is at `path`.
    pub fn create(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            fs.create_in(pino, &name, Kind::File, FILE_MODE, path)
        })
    }

    pub fn mkdir(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            fs.create_in(pino, &name, Kind::Dir, DIR_MODE, path)
        })
    }

    /// Creates `path` and every missing parent directory; fine if it exists
    /// as a directory.
    pub fn mkdir_all(&mut self, path: &str) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let comps = components(path)?;
            let mut ino = ROOT_INO;
            for c in comps {
                ino = match fs.lookup(ino, c)? {
                    Some(d) if d.kind == Kind::Dir => d.ino,
                    Some(_) => {
                        return Err(FsError::NotADirectory {
                            path: path.to_string(),
                        })
                    }
                    None => fs.create_in(ino, c, Kind::Dir, DIR_MODE, path)?,
                };
            }
            Ok(ino)
        })
    }

    /// Writes `data` at `offset` of file `ino` (zero-filling any gap past
    /// the end). The chunks the write touches are rewritten whole.
    pub fn write_at(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), FsError> {
        self.atomically(|fs| fs.write_parts(ino, offset, &[Part::Bytes(data)]))
    }

    /// Appends `data` to file `ino`; returns the new size.
    pub fn append(&mut self, ino: u64, data: &[u8]) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let size = fs.get_inode(ino)?.size;
            fs.write_parts(ino, size, &[Part::Bytes(data)])?;
            Ok(size + data.len() as u64)
        })
    }

    /// Replaces the contents of `path` with `data`, creating the file (and
    /// its parents) if needed: one transaction, old or new contents.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<u64, FsError> {
        self.atomically(|fs| {
            let (parent, name) = parent_and_name(path)?;
            let pino = fs.mkdir_all(&parent)?;
            let ino = match fs.lookup(pino, name)? {
                Some(d) if d.kind == Kind::File => {
                    fs.truncate_ino(d.ino, 0)?;
                    d.ino
                }
                Some(_) => {
                    return Err(FsError::IsADirectory {
                        path: path.to_string(),
                    })
                }
                None => fs.create_in(pino, name, Kind::File, FILE_MODE, path)?,
            };
            fs.write_parts(ino, 0, &[Part::Bytes(data)])?;
            Ok(ino)
        })
    }

    pub fn truncate(&mut self, path: &str, size: u64) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (ino, inode) = fs.resolve(path)?;
            if inode.kind != Kind::File {
                return Err(FsError::IsADirectory {
                    path: path.to_string(),
                });
            }
            fs.truncate_ino(ino, size)
        })
    }

    fn truncate_ino(&mut self, ino: u64, size: u64) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        if size >= inode.size {
            // Growing stores one hole record, whatever the length: no
            // zeros are hashed or written.
            return self.write_parts(ino, size, &[]);
        }
        // Extents ending after `size`: drop them, keep the head of the one
        // that straddles `size`.
        let doomed = self.extents_from(ino, size, u64::MAX)?;
        let mut head = None;
        for (end, ext) in &doomed {
            cowbtree::remove(&mut self.dev, &mut self.state.live, &extent_key(ino, *end))?;
            let start = end - ext.len();
            if start < size {
                head = Some((start, *ext));
            }
        }
        let mut new_refs = Vec::new();
        let mut start_of_new = size;
        if let Some((start, Extent::Hole(_))) = head {
            self.put_hole(ino, start, size)?;
        } else if let Some((start, Extent::Chunk(ext))) = head {
            let mut buf = Vec::new();
            self.read_extent(&ext, &mut buf)?;
            let keep = usize::try_from(size - start).unwrap_or(0).min(buf.len());
            let mut w = self.state.content.writer();
            self.state
                .content
                .push(&mut self.dev, &mut w, &buf[..keep], &mut new_refs)?;
            self.state.content.finish(&mut self.dev, w, &mut new_refs)?;
            start_of_new = start;
        }
        self.put_extents(ino, start_of_new, &new_refs)?;
        let now = self.now();
        let mut inode = inode;
        if counted(&inode) {
            self.state.meta.logical_bytes = self
                .state
                .meta
                .logical_bytes
                .saturating_sub(inode.size - size);
        }
        inode.size = size;
        inode.mtime = now;
        inode.ctime = now;
        self.put_inode(ino, &inode)
    }

    /// Extents of `ino` that end after `from` and start before `to`, in order.
    fn extents_from(
        &mut self,
        ino: u64,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Extent)>, FsError> {
        let (lo, hi) = records::extent_range_after(ino, from);
        let mut cursor = cowbtree::range(
            &mut self.dev,
            &self.state.live,
            Bound::Included(&lo),
            Bound::Excluded(&hi),
        )?;
        let mut out = Vec::new();
        while let Some((k, v)) = cursor.next_entry()? {
            let (end, ext) = decode_extent(ino, &k, &v)?;
            let start = end.checked_sub(ext.len()).ok_or(FsError::Corrupt {
                what: "extent starts before 0",
                ino,
            })?;
            if start >= to {
                break;
            }
            out.push((end, ext));
        }
        Ok(out)
    }

    fn put_extents(&mut self, ino: u64, mut at: u64, refs: &[ChunkRef]) -> Result<(), FsError> {
        for r in refs {
            at = at
                .checked_add(u64::from(r.len))
                .ok_or(FsError::FileTooLarge {
                    path: String::new(),
                    size: at,
                    max: u64::MAX,
                })?;
            let v = ExtentValue {
                hash: r.hash,
                len: r.len,
            };
            cowbtree::insert(
                &mut self.dev,
                &mut self.state.live,
                &extent_key(ino, at),
                &v.encode(),
            )?;
        }
        Ok(())
    }

    /// Records `[from, to)` of file `ino` as a hole (nothing if empty).
    fn put_hole(&mut self, ino: u64, from: u64, to: u64) -> Result<(), FsError> {
        if to > from {
            cowbtree::insert(
                &mut self.dev,
                &mut self.state.live,
                &extent_key(ino, to),
                &Extent::Hole(to - from).encode(),
            )?;
        }
        Ok(())
    }

    /// The write primitive: `parts` land at `offset` of file `ino`; a gap
    /// between the end of file and `offset` becomes a hole.
    pub(crate) fn write_parts(
        &mut self,
        ino: u64,
        offset: u64,
        parts: &[Part<'_>],
    ) -> Result<(), FsError> {
        let mut inode = self.get_inode(ino)?;
        if inode.kind != Kind::File {
            return Err(FsError::Corrupt {
                what: "write to a directory inode",
                ino,
            });
        }
        let mut len: u64 = 0;
        for p in parts {
            len = len.saturating_add(match p {
                Part::Bytes(b) => b.len() as u64,
            });
        }
        if len == 0 && offset <= inode.size {
            return Ok(());
        }
        let end = offset.checked_add(len).ok_or(FsError::FileTooLarge {
            path: String::new(),
            size: offset,
            max: u64::MAX,
        })?;
        // Region rewritten: from the start of the chunk holding
        // min(offset, size) to the end of the chunk holding `end`.
        let write_from = offset.min(inode.size);
        // An append re-chunks the file's last chunk too: it was cut by the
        // end of the file, not by the content, and chunking it again with
        // the new bytes gives exactly the chunks a one-shot write would
        // (content-defined cuts depend only on the bytes since the chunk's
        // start). So a blob dedups the same whatever pieces it came in.
        let scan_from = if offset >= inode.size && inode.size > 0 {
            inode.size - 1
        } else {
            write_from
        };
        let old = self.extents_from(ino, scan_from, end)?;
        let mut head: Option<(u64, Extent)> = None;
        let mut tail: Option<(u64, Extent)> = None;
        if let Some(&(e_end, ext)) = old.first() {
            let start = e_end - ext.len();
            if start < write_from {
                head = Some((start, ext));
            }
        }
        if let Some(&(e_end, ext)) = old.last() {
            if e_end > end {
                tail = Some((e_end, ext));
            }
        }
        for (e_end, _) in &old {
            cowbtree::remove(
                &mut self.dev,
                &mut self.state.live,
                &extent_key(ino, *e_end),
            )?;
        }
        // `at`: where the chunks being cut into `refs` start.
        let mut at = write_from;
        let mut refs = Vec::new();
        let mut w = self.state.content.writer();
        let mut buf = Vec::new();
        // Where a hole before the new bytes starts (a head hole's kept
        // part, and/or the gap past the end of file).
        let mut hole_from = None;
        match head {
            Some((start, Extent::Chunk(ext))) => {
                self.read_extent(&ext, &mut buf)?;
                let keep = usize::try_from(write_from - start)
                    .unwrap_or(0)
                    .min(buf.len());
                self.state
                    .content
                    .push(&mut self.dev, &mut w, &buf[..keep], &mut refs)?;
                at = start;
            }
            Some((start, Extent::Hole(_))) => hole_from = Some(start),
            None => {}
        }
        if offset > inode.size && hole_from.is_none() {
            if matches!(head, Some((_, Extent::Chunk(_)))) {
                // The head chunk is cut at the old end of file, as it was.
                self.state.content.finish(&mut self.dev, w, &mut refs)?;
                self.put_extents(ino, at, &refs)?;
                refs.clear();
                w = self.state.content.writer();
            }
            hole_from = Some(inode.size);
        }
        if let Some(h) = hole_from {
            let to = offset.max(write_from);
            self.put_hole(ino, h, to)?;
            at = to;
        }
        for p in parts {
            match p {
                Part::Bytes(b) => self
                    .state
                    .content
                    .push(&mut self.dev, &mut w, b, &mut refs)?,
            }
        }
        let mut tail_hole = None;
        match tail {
            Some((e_end, Extent::Chunk(ext))) => {
                self.read_extent(&ext, &mut buf)?;
                let start = e_end - u64::from(ext.len);
                let from = usize::try_from(end - start)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                self.state
                    .content
                    .push(&mut self.dev, &mut w, &buf[from..], &mut refs)?;
            }
            Some((e_end, Extent::Hole(_))) => tail_hole = Some(e_end),
            None => {}
        }
        self.state.content.finish(&mut self.dev, w, &mut refs)?;
        self.put_extents(ino, at, &refs)?;
        if let Some(e_end) = tail_hole {
            self.put_hole(ino, end, e_end)?;
        }
        let new_size = inode.size.max(end);
        if counted(&inode) {
            self.state.meta.logical_bytes = self
                .state
                .meta
                .logical_bytes
                .saturating_add(new_size - inode.size);
        }
        let now = self.now();
        inode.size = new_size;
        inode.mtime = now;
        inode.ctime = now;
        self.put_inode(ino, &inode)
    }

    /// Removes a file and its extents (its chunks become garbage for GC).
    pub(crate) fn remove_file_ino(&mut self, ino: u64) -> Result<(), FsError> {
        let inode = self.get_inode(ino)?;
        let extents = self.extents_from(ino, 0, u64::MAX)?;
        for (end, _) in extents {
            cowbtree::remove(&mut self.dev, &mut self.state.live, &extent_key(ino, end))?;
        }
        cowbtree::remove(&mut self.dev, &mut self.state.live, &inode_key(ino))?;
        if counted(&inode) {
            self.state.meta.logical_bytes =
                self.state.meta.logical_bytes.saturating_sub(inode.size);
        }
        Ok(())
    }

    fn dir_is_empty(&mut self, ino: u64) -> Result<bool, FsError> {
        let root = self.state.live;
        Ok(self.list_ino(&root, ino, None, 1)?.is_empty())
    }

    /// Deletes the file at `path`.
    pub fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            let d = fs.lookup(pino, &name)?.ok_or_else(|| FsError::NotFound {
                path: path.to_string(),
            })?;
            if d.kind != Kind::File {
                return Err(FsError::IsADirectory {
                    path: path.to_string(),
                });
            }
            fs.remove_file_ino(d.ino)?;
            cowbtree::remove(
                &mut fs.dev,
                &mut fs.state.live,
                &dirent_key(pino, name.as_bytes()),
            )?;
            let now = fs.now();
            fs.touch_dir(pino, now)
        })
    }

    /// Removes the empty directory at `path`.
    pub fn rmdir(&mut self, path: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            let d = fs.lookup(pino, &name)?.ok_or_else(|| FsError::NotFound {
                path: path.to_string(),
            })?;
            if d.kind != Kind::Dir {
                return Err(FsError::NotADirectory {
                    path: path.to_string(),
                });
            }
            if !fs.dir_is_empty(d.ino)? {
                return Err(FsError::DirectoryNotEmpty {
                    path: path.to_string(),
                });
            }
            cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(d.ino))?;
            cowbtree::remove(
                &mut fs.dev,
                &mut fs.state.live,
                &dirent_key(pino, name.as_bytes()),
            )?;
            let now = fs.now();
            fs.touch_dir(pino, now)
        })
    }

    /// Removes `path` and everything below it; `Ok(false)` if it did not
    /// exist. One transaction: meant for small subtrees (a tag, an upload).
    pub fn remove_all(&mut self, path: &str) -> Result<bool, FsError> {
        self.atomically(|fs| {
            let (pino, name) = fs.parent_dir(path)?;
            let Some(d) = fs.lookup(pino, &name)? else {
                return Ok(false);
            };
            // Depth-first with an explicit stack of directories still to empty.
            let mut stack = vec![(pino, name.clone(), d)];
            // Each step removes a record or expands a directory once; more
            // steps than twice the tree's entries means a directory cycle.
            let mut budget = fs.state.live.entries.saturating_mul(2).saturating_add(2);
            while let Some((parent, n, e)) = stack.pop() {
                budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                    what: "directory cycle",
                    ino: e.ino,
                })?;
                if e.kind == Kind::Dir {
                    let root = fs.state.live;
                    let children = fs.list_ino(&root, e.ino, None, 64)?;
                    if !children.is_empty() {
                        stack.push((parent, n, e));
                        for c in children {
                            stack.push((
                                e.ino,
                                c.name,
                                DirentValue {
                                    ino: c.ino,
                                    kind: c.kind,
                                },
                            ));
                        }
                        continue;
                    }
                    cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(e.ino))?;
                } else {
                    fs.remove_file_ino(e.ino)?;
                }
                cowbtree::remove(
                    &mut fs.dev,
                    &mut fs.state.live,
                    &dirent_key(parent, n.as_bytes()),
                )?;
            }
            let now = fs.now();
            fs.touch_dir(pino, now)?;
            Ok(true)
        })
    }

    /// Moves `from` to `to` atomically. An existing file at `to` is replaced
    /// (as is an empty directory by a directory); a directory cannot move
    /// into itself.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.atomically(|fs| {
            let (fp, fname) = fs.parent_dir(from)?;
            let (tp, tname) = fs.parent_dir(to)?;
            let src = fs.lookup(fp, &fname)?.ok_or_else(|| FsError::NotFound {
                path: from.to_string(),
            })?;
            if fp == tp && fname == tname {
                return Ok(());
            }
            if src.kind == Kind::Dir {
                // Walk up from the destination's parent: meeting `src` means
                // the move would cut the directory loose from the root.
                let mut at = tp;
                // A parent chain longer than the tree has entries loops.
                let mut budget = fs.state.live.entries;
                loop {
                    budget = budget.checked_sub(1).ok_or(FsError::Corrupt {
                        what: "parent chain loops",
                        ino: at,
                    })?;
                    if at == src.ino {
                        return Err(FsError::InvalidRename {
                            from: from.to_string(),
                            to: to.to_string(),
                        });
                    }
                    if at == ROOT_INO {
                        break;
                    }
                    at = fs.get_inode(at)?.parent;
                }
            }
            if let Some(old) = fs.lookup(tp, &tname)? {
                match (src.kind, old.kind) {
                    (Kind::File, Kind::File) => fs.remove_file_ino(old.ino)?,
                    (Kind::Dir, Kind::Dir) => {
                        if !fs.dir_is_empty(old.ino)? {
                            return Err(FsError::DirectoryNotEmpty {
                                path: to.to_string(),
                            });
                        }
                        cowbtree::remove(&mut fs.dev, &mut fs.state.live, &inode_key(old.ino))?;
                    }
                    (Kind::File, Kind::Dir) => {
                        return Err(FsError::IsADirectory {
                            path: to.to_string(),
                        })
                    }
                    (Kind::Dir, Kind::File) => {
                        return Err(FsError::NotADirectory {
                            path: to.to_string(),
                        })
                    }
                }
            }
            cowbtree::remove(
                &mut fs.dev,
                &mut fs.state.live,
                &dirent_key(fp, fname.as_bytes()),
            )?;
            cowbtree::insert(
                &mut fs.dev,
                &mut fs.state.live,
                &dirent_key(tp, tname.as_bytes()),
                &src.encode(),
            )?;
            let now = fs.now();
            let mut inode = fs.get_inode(src.ino)?;
            inode.parent = tp;
            inode.name = tname.as_bytes().to_vec();
            inode.ctime = now;
            fs.put_inode(src.ino, &inode)?;
            fs.touch_dir(fp, now)?;
            if tp != fp {
                fs.touch_dir(tp, now)?;
            }
            Ok(())
        })
    }
    /// Reads the whole chunk an extent names into `buf`, verified.
    fn read_extent(&mut self, ext: &ExtentValue, buf: &mut Vec<u8>) -> Result<(), FsError> {
        let r = ChunkRef {
            hash: ext.hash,
            len: ext.len,
        };
        self.state
            .content
            .read_chunk(&mut self.dev, &mut self.read_buf, &r, buf)?;
        if self.check_chunks {
            crate::received::check_chunk(&r, buf)?;
        }
        Ok(())
    }

    /// Checks every chunk's bytes the content store hands back (BLAKE3 and
    /// length) before use: for a content store in another process, whose
    /// answers are not trusted (the fs service turns it on).
    pub fn check_received_chunks(&mut self, on: bool) {
        self.check_chunks = on;
    }

    /// Sum of the sizes of the live tree's files.
    pub fn logical_bytes(&self) -> u64 {
        self.state.meta.logical_bytes
    }

    pub(crate) fn alloc_upload_id(&mut self) -> u64 {
        let id = self.state.meta.next_upload;
        self.state.meta.next_upload = id.wrapping_add(1);
        id
    }
}

/// Whether a file's size counts in `logical_bytes`: staging files of puts
/// in progress ([`crate::put`]) do not, until they are switched in.
pub(crate) fn counted(inode: &Inode) -> bool {
    inode.parent != STAGING_DIR
}

pub(crate) fn decode_extent(ino: u64, k: &[u8], v: &[u8]) -> Result<(u64, Extent), FsError> {
    match records::parse_key(k) {
        Ok(records::Key::Extent { ino: i, end }) if i == ino => {
            let ext = Extent::decode(v).map_err(|e| FsError::BadRecord { ino, problem: e })?;
            if ext.is_empty() || ext.len() > end {
                return Err(FsError::Corrupt {
                    what: "extent length 0 or past offset 0",
                    ino,
                });
            }
            Ok((end, ext))
        }
        _ => Err(FsError::Corrupt {
            what: "foreign key in extent range",
            ino,
        }),
    }
}

#[cfg(test)]
mod crafted_records {
    //! Records with valid node checksums but lying contents (what a bug or
    //! a crafted image could leave): every operation must return an error
    //! or a result, never panic or loop.
    use super::*;
    use block::{BlockStore, Config, MemDevice};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn config() -> Config {
        Config {
            cache_blocks: 64,
            journal_blocks: 256,
            group_commit_blocks: 32,
        }
    }

    fn crafted(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
        let ino = 1 + rng.below(12);
        let other = 1 + rng.below(12);
        let key = match rng.below(3) {
            0 => inode_key(ino).to_vec(),
            1 => dirent_key(
                ino,
                ["a", "b", "x", "data"][rng.below(4) as usize].as_bytes(),
            ),
            _ => extent_key(ino, rng.below(300_000)).to_vec(),
        };
        let value = match rng.below(5) {
            0 => {
                let kind = if rng.below(2) == 0 {
                    Kind::Dir
                } else {
                    Kind::File
                };
                Inode {
                    kind,
                    mode: 0o644,
                    parent: other,
                    size: rng.below(400_000),
                    mtime: 0,
                    ctime: 0,
                    name: b"x".to_vec(),
                }
                .encode()
            }
            1 => DirentValue {
                ino: other,
                kind: if rng.below(2) == 0 {
                    Kind::Dir
                } else {
                    Kind::File
                },
            }
            .encode()
            .to_vec(),
            2 => ExtentValue {
                hash: [rng.below(256) as u8; 32],
                len: rng.below(300_000) as u32,
            }
            .encode()
            .to_vec(),
            _ => (0..rng.below(60)).map(|_| rng.next() as u8).collect(),
        };
        (key, value)
    }

    #[test]
    fn lying_records_give_errors_not_panics() {
        let store = BlockStore::format(MemDevice::new(2048), config()).unwrap();
        let mut fs = Fs::open(store, 0).unwrap();
        fs.write_file("/a/data", &[7u8; 100_000]).unwrap();
        fs.write_file("/a/b", b"small").unwrap();
        fs.mkdir_all("/x/a").unwrap();
        fs.snapshot_create("s").unwrap();
        let image = fs.into_device().unmount().unwrap().into_image();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _round in 0..300 {
            let store = BlockStore::mount(MemDevice::from_image(image.clone()), config()).unwrap();
            let mut fs = Fs::open(store, 0).unwrap();
            let n = 1 + rng.below(3);
            fs.atomically(|fs| {
                for _ in 0..n {
                    let (k, v) = crafted(&mut rng);
                    cowbtree::insert(&mut fs.dev, &mut fs.state.live, &k, &v)?;
                }
                Ok(())
            })
            .unwrap();
            let _ = fs.walk(None);
            let _ = fs.fsck(true);
            let _ = fs.read_file("/a/data", u64::MAX);
            let _ = fs.read_file("/a/b", u64::MAX);
            let _ = fs.list("/a", None, 100);
            let _ = fs.snapshot_diff(Some("s"), None);
            let _ = fs.snapshot_list();
            let _ = fs.gc(true);
            let _ = fs.rename("/x", "/a/x");
            let _ = fs.write_at(3, 50_000, b"overwrite");
            let _ = fs.truncate("/a/data", 10);
            let _ = fs.remove_all("/a");
            let _ = fs.unlink("/a/b");
            let _ = fs.rmdir("/x/a");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        assert_eq!(components("/").unwrap(), Vec::<&str>::new());
        assert_eq!(components("/a/b").unwrap(), vec!["a", "b"]);
        assert!(components("a/b").is_err());
        assert!(components("/a//b").is_err());
        assert!(components("/a/").is_err());
        assert!(components("/a/../b").is_err());
        assert!(components("/a/./b").is_err());
        assert!(components("/a\0").is_err());
        let long = alloc::format!("/{}", "x".repeat(NAME_MAX + 1));
        assert!(matches!(
            components(&long),
            Err(FsError::NameTooLong { .. })
        ));
        assert_eq!(parent_and_name("/a/b").unwrap(), ("/a".to_string(), "b"));
        assert_eq!(parent_and_name("/a").unwrap(), ("/".to_string(), "a"));
        assert!(parent_and_name("/").is_err());
    }
}
