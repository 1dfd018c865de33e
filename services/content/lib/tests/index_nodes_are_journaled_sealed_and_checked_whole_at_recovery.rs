//! The index cache sends the index nodes a request wrote through
//! `write_verified`: the block store journals each under the CRC-32C read
//! off the node's seal (`block::sealed_image_crc`) instead of a pass over
//! its 4 KiB. The tag is the same value, so recovery still checks each
//! such image whole: an index node damaged in the journal is found at
//! mount and repaired from the parity (the object reads back); damaged
//! with another image of its transaction it is beyond repair, and the
//! transaction (the last, a torn tail) is not replayed: the store is as
//! the commit before it, and checks clean.

mod common;

use block::{BlockStore, Extent, MemDevice, Transactional, BLOCK_SIZE, SEAL_FIELD};
use common::{config, get, load_root, new_store, noise, save_root, Counting};
use content::{ChunkRef, ChunkWriter, ContentStore, IndexCache};
use cowbtree::node::Node;

/// One durable transaction: a small object stored through the index cache
/// in one request, as the service does, then the owner's root saved.
struct Put {
    /// The device after the commit (nothing checkpointed).
    dev: MemDevice,
    journal: Extent,
    /// The content root before the put.
    before: Vec<u8>,
    data: Vec<u8>,
    refs: Vec<ChunkRef>,
    /// (home, image) of the index nodes the cache wrote.
    nodes: Vec<(u64, Vec<u8>)>,
    /// The root slot's image (the owner's plain write).
    root_image: Vec<u8>,
}

fn read(s: &mut impl Transactional, block: u64) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE];
    s.read(block, &mut b).unwrap();
    b
}

fn put() -> Put {
    let (mut tx, store) = new_store(2048);
    let before = store.encode_root();
    let data = noise(4096, 21);
    let sealed_before = tx.stats().journal_sealed_images;
    let mut refs = Vec::new();
    let (plain, mut sealed) = {
        let mut cache = IndexCache::new(Counting::new(&mut tx));
        cache.begin().unwrap();
        cache.start(&before);
        let mut store = ContentStore::open(&before).unwrap();
        let mut w = ChunkWriter::new();
        w.write(&mut store, &mut cache, &data, |r| refs.push(r))
            .unwrap();
        w.finish(&mut store, &mut cache, |r| refs.push(r)).unwrap();
        cache.answer(&mut store);
        cache.end(true).unwrap();
        // The owner's part, straight to the device.
        save_root(&mut cache.dev, &store);
        cache.dev.commit(block::Durability::Durable).unwrap();
        let Counting {
            plain_writes,
            sealed_writes,
            ..
        } = cache.dev;
        (plain_writes, sealed_writes)
    };
    // Only the owner's root went as a plain write; the index nodes sealed.
    assert_eq!(plain, [tx.root_block(0)]);
    assert!(!sealed.is_empty());
    sealed.sort_unstable();
    sealed.dedup();
    let stats = tx.stats();
    assert_eq!(
        stats.journal_sealed_images - sealed_before,
        sealed.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.checkpoints, 0);
    let nodes: Vec<(u64, Vec<u8>)> = sealed
        .iter()
        .map(|&b| {
            let image = read(&mut tx, b);
            // What write_verified promises: a node sealed for its block.
            Node::decode(b, &image).unwrap();
            (b, image)
        })
        .collect();
    let root = tx.root_block(0);
    let root_image = read(&mut tx, root);
    let journal = tx.geometry().journal;
    Put {
        dev: tx.into_device(),
        journal,
        before: before.to_vec(),
        data,
        refs,
        nodes,
        root_image,
    }
}

/// Where `image` lies in the journal, as a device block.
fn journal_block_of(p: &Put, image: &[u8]) -> usize {
    (p.journal.start..p.journal.end())
        .map(|b| b as usize)
        .find(|&b| &p.dev.image()[b * BLOCK_SIZE..(b + 1) * BLOCK_SIZE] == image)
        .expect("the image is journaled")
}

#[test]
fn index_nodes_go_sealed_and_a_damaged_one_is_repaired_at_mount() {
    let p = put();
    let clean = BlockStore::mount(p.dev.clone(), config()).unwrap();
    let replayed = clean.stats().transactions_replayed;
    assert!(replayed >= 1);
    for (home, image) in &p.nodes {
        let at = journal_block_of(&p, image);
        for byte in [0, SEAL_FIELD, 8, 100, BLOCK_SIZE / 2, BLOCK_SIZE - 1] {
            let mut damaged = p.dev.clone();
            damaged.image_mut()[at * BLOCK_SIZE + byte] ^= 0x20;
            let mut s = BlockStore::mount(damaged, config())
                .unwrap_or_else(|e| panic!("node {home} byte {byte}: {e}"));
            let says = format!("journal block {at} ");
            assert!(
                s.events().any(|e| e.contains(&says)),
                "node {home} byte {byte}: {:?}",
                s.events().collect::<Vec<_>>()
            );
            assert_eq!(s.stats().transactions_replayed, replayed);
            assert!(read(&mut s, *home) == *image, "node {home} byte {byte}");
            let store = load_root(&mut s);
            assert!(store.check(&mut s, true).is_clean());
            assert_eq!(get(&mut s, &store, &p.refs, 4096), p.data);
        }
    }
}

#[test]
fn an_index_node_damaged_beyond_repair_is_never_replayed() {
    let p = put();
    let replayed = BlockStore::mount(p.dev.clone(), config())
        .unwrap()
        .stats()
        .transactions_replayed;
    let root_at = journal_block_of(&p, &p.root_image);
    for (home, image) in &p.nodes {
        let at = journal_block_of(&p, image);
        for byte in [0, SEAL_FIELD, 100, BLOCK_SIZE - 1] {
            // Two images of one group: the parity repairs one at most.
            let mut damaged = p.dev.clone();
            damaged.image_mut()[at * BLOCK_SIZE + byte] ^= 0x01;
            damaged.image_mut()[root_at * BLOCK_SIZE + byte] ^= 0x80;
            let mut s = BlockStore::mount(damaged, config())
                .unwrap_or_else(|e| panic!("node {home} byte {byte}: {e}"));
            assert_eq!(
                s.stats().transactions_replayed,
                replayed - 1,
                "node {home} byte {byte}"
            );
            assert!(read(&mut s, *home) != *image, "node {home} byte {byte}");
            let store = load_root(&mut s);
            assert_eq!(store.encode_root().as_slice(), p.before.as_slice());
            assert!(store.check(&mut s, true).is_clean());
            assert!(s.check().unwrap().is_clean());
        }
    }
}
