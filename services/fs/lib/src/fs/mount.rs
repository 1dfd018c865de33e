//! Mount: reading the root block and the trees it names, formatting a
//! never-written slot (never over a store in use), and reaping the staging
//! files of puts a crash or remount left behind.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use block::{Durability, Transactional};
use cowbtree::TreeRoot;

use super::{Fs, State, DIR_MODE};
use crate::chunks::{ChunkStore, Chunks};
use crate::error::FsError;
use crate::node_cache::NodeCache;
use crate::records::{inode_key, Inode, Kind, ROOT_INO};
use crate::root::{RootBlock, BLOCK_LEN, CONTENT_ROOT_MAX, TREE_ROOT_LEN};

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
                    quota_kinds: None,
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
            dev: NodeCache::new(dev),
            slot,
            state,
            durability: Durability::Durable,
            group_commit: false,
            unsynced: 0,
            group_closing: false,
            group_close_probe: None,
            in_txn: false,
            time: None,
            read_buf: C::ReadBuf::default(),
            stage: Default::default(),
            check_chunks: false,
            request_limit: u64::MAX,
            pinned: Vec::new(),
            next_pin: 1,
            dirs: Default::default(),
            node_buf: Box::new([0; cowbtree::NODE_SIZE]),
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
                quota_kinds: None,
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
            dev: NodeCache::new(dev),
            slot,
            state,
            durability: Durability::Durable,
            group_commit: false,
            unsynced: 0,
            group_closing: false,
            group_close_probe: None,
            in_txn: true,
            time: None,
            read_buf: C::ReadBuf::default(),
            stage: Default::default(),
            check_chunks: false,
            request_limit: u64::MAX,
            pinned: Vec::new(),
            next_pin: 1,
            dirs: Default::default(),
            node_buf: Box::new([0; cowbtree::NODE_SIZE]),
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
}
