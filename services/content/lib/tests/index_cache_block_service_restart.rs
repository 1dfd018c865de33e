//! The content service's index cache across a restart of the block
//! service: the open transaction is lost (the device mounts again from its
//! last commit) while the content service and its cache live on. Cached
//! images of that transaction's in-place writes must not be served.

mod common;

use block::{Durability, Transactional};
use common::service::{contains_uncached, Service};
use common::{noise, save_root};
use content::{ChunkMarks, ContentStore, Sweep};

#[test]
fn writes_lost_with_the_block_service_are_not_served_from_the_cache() {
    let (mut svc, root0) = Service::new(4096);
    let a = noise(4096, 1);
    let (chunk, root1) = svc.owner_tx(|s| s.put_small(&root0, &a).unwrap());
    let (epoch, root2) = svc.begin_gc_committed(&root1);

    // In the open transaction: a new chunk, and A's entry refreshed in
    // place; then the block service restarts.
    svc.owner().begin().unwrap();
    let (lost, root3) = svc.put_small(&root2, &noise(4096, 2)).unwrap();
    let (_, root3) = svc.put_small(&root3, &a).unwrap();
    assert!(svc.contains(&root3, &lost.hash));
    svc.restart_block_service();
    assert!(!svc.cache.is_empty(), "the content service kept its cache");

    // The owner goes on from its last commit.
    assert!(!svc.contains(&root2, &lost.hash));
    let (_, root4) = svc.owner_tx(|s| s.put_small(&root2, &a).unwrap());
    let mut store = ContentStore::open(&root4).unwrap();
    let dev = svc.owner();
    assert!(store.check(dev, true).is_clean());
    let marks = ChunkMarks::new(dev.block_count());
    let mut sweep = Sweep::new(epoch);
    dev.begin().unwrap();
    while !sweep.is_done() {
        store.sweep_step(dev, &marks, &mut sweep, 64).unwrap();
    }
    save_root(dev, &store);
    dev.commit(Durability::Durable).unwrap();
    assert!(contains_uncached(dev, &store.encode_root(), &chunk.hash));
    assert!(!contains_uncached(dev, &store.encode_root(), &lost.hash));
}
