//! The content service's request handling on the host: the store's root
//! comes with every request, the service's [`IndexCache`] lives across
//! requests, and the owner (the filesystem's part: begin, commit, abort,
//! its own blocks) calls the block store directly, behind the cache, as the
//! filesystem service calls the block service. The block store counts the
//! reads that reach it (the block-service reads of the real service).

use block::{BlockStore, Durability, MemDevice, Transactional};
use content::{ChunkRef, ChunkWriter, ContentRoot, ContentStore, Error, GcEpoch, IndexCache};
use testkit::CountingReads;

use super::{config, Store};

pub type Root = [u8; ContentRoot::ENCODED_LEN];

/// The service side: the cache over the (counting) block store.
pub struct Service {
    pub cache: IndexCache<CountingReads<Store>>,
}

impl Service {
    /// Over a formatted store holding an empty content store, committed;
    /// returns the service and the owner's root.
    pub fn new(blocks: u64) -> (Service, Root) {
        let (dev, store) = super::new_store(blocks);
        (
            Service {
                cache: IndexCache::new(CountingReads::new(dev)),
            },
            store.encode_root(),
        )
    }

    /// The block store, as the owner (the transaction's holder) uses it.
    pub fn owner(&mut self) -> &mut Store {
        &mut self.cache.dev.inner
    }

    /// Reads that reached the block store so far.
    pub fn reads(&self) -> u64 {
        self.cache.dev.calls
    }

    /// One request with `root`, as the server runs it: the cache starts
    /// with the request's root, `f` runs on the store it names, and the
    /// answer is the (changed-marked) new root; held writes are sent before
    /// the answer, nothing on failure.
    pub fn request<R>(
        &mut self,
        root: &Root,
        f: impl FnOnce(&mut ContentStore, &mut IndexCache<CountingReads<Store>>) -> Result<R, Error>,
    ) -> Result<(R, Root), Error> {
        self.cache.start(root);
        let mut store = ContentStore::open(root).expect("the owner's root decodes");
        match f(&mut store, &mut self.cache) {
            Ok(r) => {
                let answered = self.cache.answer(&mut store);
                self.cache
                    .end(true)
                    .map_err(|e| Error::from(content::PutError::from(e)))?;
                Ok((r, answered))
            }
            Err(e) => {
                let _ = self.cache.end(false);
                Err(e)
            }
        }
    }

    /// A small put as the filesystem makes it: a `push` request (the bytes
    /// stay in the writer: below the minimum chunk) and a `finish` request
    /// (the chunk is stored). Returns the chunk and the new root.
    pub fn put_small(&mut self, root: &Root, data: &[u8]) -> Result<(ChunkRef, Root), Error> {
        let mut w = ChunkWriter::new();
        let (_, root) = self.request(root, |s, dev| {
            w.write(s, dev, data, |_| ())?;
            Ok(())
        })?;
        let mut refs = Vec::new();
        let (_, root) = self.request(&root, |s, dev| {
            w.finish(s, dev, |r| refs.push(r))?;
            Ok(())
        })?;
        Ok((refs[0], root))
    }

    /// `contains` as a request.
    pub fn contains(&mut self, root: &Root, hash: &[u8; 32]) -> bool {
        self.request(root, |s, dev| Ok(s.contains(dev, hash)?))
            .unwrap()
            .0
    }

    /// The owner's transaction: begin, `f`, then the root saved and
    /// committed (durable).
    pub fn owner_tx<R>(&mut self, f: impl FnOnce(&mut Service) -> (R, Root)) -> (R, Root) {
        self.owner().begin().unwrap();
        let (r, root) = f(self);
        let store = ContentStore::open(&root).unwrap();
        super::save_root(self.owner(), &store);
        self.owner().commit(Durability::Durable).unwrap();
        (r, root)
    }

    /// The owner starts a GC over `root` and commits its new epoch
    /// (durable); returns the epoch and the root after it.
    pub fn begin_gc_committed(&mut self, root: &Root) -> (GcEpoch, Root) {
        let mut st = ContentStore::open(root).unwrap();
        let epoch = st.begin_gc().unwrap();
        self.owner().begin().unwrap();
        super::save_root(self.owner(), &st);
        self.owner().commit(Durability::Durable).unwrap();
        (epoch, st.encode_root())
    }

    /// The block service restarts: its open transaction is lost, the
    /// device mounted again from what reached it. The cache stays (the
    /// content service did not restart).
    pub fn restart_block_service(&mut self) {
        let image = self.owner().device().clone();
        let small = block::Config {
            cache_blocks: 16,
            journal_blocks: 24,
            group_commit_blocks: 8,
        };
        let placeholder = BlockStore::format(MemDevice::new(256), small).unwrap();
        drop(core::mem::replace(&mut self.cache.dev.inner, placeholder));
        self.cache.dev.inner = BlockStore::mount(image, config()).unwrap();
    }
}

/// What the uncached store says (the owner's view, straight from the
/// block store): is `hash` stored under `root`?
pub fn contains_uncached(dev: &mut Store, root: &Root, hash: &[u8; 32]) -> bool {
    ContentStore::open(root)
        .unwrap()
        .contains(dev, hash)
        .unwrap()
}
