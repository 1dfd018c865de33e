//! Shared test set-up: a content store on the block layer's in-memory device.
#![allow(dead_code)]

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};
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

pub mod service;
