//! Shared test set-up: a content store on the block layer's in-memory device.
#![allow(dead_code)]

use block::{BlockStore, Config, Durability, Error, Extent, MemDevice, Transactional, BLOCK_SIZE};
use content::{ChunkRef, ChunkWriter, ContentRoot, ContentStore, ObjectReader};

pub type Store = BlockStore<MemDevice>;

pub fn config() -> Config {
    Config {
        cache_blocks: 1024,
        journal_blocks: 1024,
        group_commit_blocks: 256,
    }
}

/// Deterministic incompressible bytes ([`testkit::noise`], in this
/// suite's argument order).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    testkit::noise(seed, len)
}

/// Writes the content root into root slot 0, as an owner would.
pub fn save_root<T: Transactional>(tx: &mut T, store: &ContentStore) {
    let mut block = vec![0u8; BLOCK_SIZE];
    block[..ContentRoot::ENCODED_LEN].copy_from_slice(&store.encode_root());
    let at = tx.root_block(0);
    tx.write(at, &block).unwrap();
}

/// Opens the content store from root slot 0.
pub fn load_root<T: Transactional>(tx: &mut T) -> ContentStore {
    let mut block = vec![0u8; BLOCK_SIZE];
    let at = tx.root_block(0);
    tx.read(at, &mut block).unwrap();
    ContentStore::open(&block[..ContentRoot::ENCODED_LEN]).unwrap()
}

/// A formatted store of `blocks` blocks with an empty content store
/// committed in root slot 0.
pub fn new_store(blocks: u64) -> (Store, ContentStore) {
    new_store_with(blocks, config())
}

/// Like [`new_store`] with a given block-layer configuration.
pub fn new_store_with(blocks: u64, config: Config) -> (Store, ContentStore) {
    let mut tx = BlockStore::format(MemDevice::new(blocks), config).unwrap();
    tx.begin().unwrap();
    let store = ContentStore::create(&mut tx).unwrap();
    save_root(&mut tx, &store);
    tx.commit(Durability::Durable).unwrap();
    (tx, store)
}

/// Puts `data` as one object, fed in pieces of `piece` bytes, committing a
/// transaction every `per_tx` pieces. Returns the chunk references.
pub fn put<T: Transactional>(
    tx: &mut T,
    store: &mut ContentStore,
    data: &[u8],
    piece: usize,
    per_tx: usize,
) -> Vec<ChunkRef> {
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    tx.begin().unwrap();
    for (i, p) in data.chunks(piece.max(1)).enumerate() {
        w.write(store, tx, p, |r| refs.push(r)).unwrap();
        if (i + 1) % per_tx.max(1) == 0 {
            save_root(tx, store);
            tx.commit(Durability::Batched).unwrap();
            tx.begin().unwrap();
        }
    }
    assert_eq!(
        w.finish(store, tx, |r| refs.push(r)).unwrap(),
        data.len() as u64
    );
    save_root(tx, store);
    tx.commit(Durability::Durable).unwrap();
    refs
}

/// Reads the whole object back in pieces of `piece` bytes.
pub fn get<T: Transactional>(
    tx: &mut T,
    store: &ContentStore,
    refs: &[ChunkRef],
    piece: usize,
) -> Vec<u8> {
    let mut r = ObjectReader::new(refs);
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = r.read_at(store, tx, out.len() as u64, &mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The store, counting the calls a put makes for chunk data, and refusing
/// chunk-data allocations once `full` is set (as a full disk does); it
/// notes the blocks of journaled writes, plain and sealed.
pub struct Counting<'a> {
    pub dev: &'a mut Store,
    pub full: bool,
    /// Allocations of chunk data (not of index nodes).
    pub allocations: u64,
    pub fresh_writes: u64,
    pub fresh_bytes: u64,
    /// First blocks of `write`s, in call order.
    pub plain_writes: Vec<u64>,
    /// Blocks of `write_verified`s (sealed nodes), in call order.
    pub sealed_writes: Vec<u64>,
}

impl<'a> Counting<'a> {
    pub fn new(dev: &'a mut Store) -> Self {
        Counting {
            dev,
            full: false,
            allocations: 0,
            fresh_writes: 0,
            fresh_bytes: 0,
            plain_writes: Vec::new(),
            sealed_writes: Vec::new(),
        }
    }
}

impl Transactional for Counting<'_> {
    fn block_count(&self) -> u64 {
        self.dev.block_count()
    }
    fn root_block(&self, slot: usize) -> u64 {
        self.dev.root_block(slot)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.dev.read(first, buf)
    }
    fn begin(&mut self) -> Result<(), Error> {
        self.dev.begin()
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.plain_writes.push(first);
        self.dev.write(first, data)
    }
    // Sealed index nodes take the store's own path, as without this device.
    fn write_verified(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.sealed_writes.push(block);
        self.dev.write_verified(block, data)
    }
    fn write_fresh(&mut self, first: u64, data: &[u8]) -> Result<(), Error> {
        self.fresh_writes += 1;
        self.fresh_bytes += data.len() as u64;
        self.dev.write_fresh(first, data)
    }
    fn allocate(&mut self, count: u64) -> Result<Extent, Error> {
        // Index nodes are one block each; chunk data is never under five.
        if count > 1 {
            if self.full {
                return Err(Error::NoSpace);
            }
            self.allocations += 1;
        }
        self.dev.allocate(count)
    }
    fn free(&mut self, extent: Extent) -> Result<(), Error> {
        self.dev.free(extent)
    }
    fn is_allocated(&mut self, block: u64) -> Result<bool, Error> {
        self.dev.is_allocated(block)
    }
    fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.dev.commit(durability)
    }
    fn abort(&mut self) {
        self.dev.abort()
    }
    fn sync(&mut self) -> Result<(), Error> {
        self.dev.sync()
    }
}

pub mod service;
