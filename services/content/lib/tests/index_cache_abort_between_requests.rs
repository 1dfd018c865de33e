//! The content service's index cache across an aborted transaction: a
//! dedup put during a GC rewrites the chunk's index entry in place (the
//! index root does not move), the owner aborts, and the same put again
//! must rewrite the entry on disk, not trust the cached, aborted image
//! (else the sweep of that GC would delete a chunk just put).

mod common;

use block::{Durability, Transactional};
use common::service::{contains_uncached, Service};
use common::{noise, save_root};
use content::{ChunkMarks, ContentRoot, ContentStore, GcEpoch, Sweep};

#[test]
fn dedup_put_after_an_aborted_one_still_protects_the_chunk_from_the_sweep() {
    let (mut svc, root0) = Service::new(4096);
    let a = noise(4096, 1);
    let (chunk, root1) = svc.owner_tx(|s| s.put_small(&root0, &a).unwrap());

    // The owner starts a GC: epoch 1, committed.
    let (epoch, root2) = svc.begin_gc_committed(&root1);

    // A dedup put refreshes the entry's epoch in place, then the owner
    // aborts (its operation failed elsewhere).
    svc.owner().begin().unwrap();
    let (_, root3) = svc.put_small(&root2, &a).unwrap();
    let (before, after) = (
        ContentRoot::decode(&root2).unwrap(),
        ContentRoot::decode(&root3).unwrap(),
    );
    assert_eq!(before.index, after.index, "rewritten in place");
    assert_ne!(root2, root3, "but the answered root says it changed");
    svc.owner().abort();
    assert!(!svc.cache.is_empty(), "the cache outlived the requests");

    // The same put again, from the committed root, committed this time.
    let (_, root4) = svc.owner_tx(|s| s.put_small(&root2, &a).unwrap());

    // The sweep of this GC, nothing marked: a chunk put during it stays.
    let mut store = ContentStore::open(&root4).unwrap();
    let dev = svc.owner();
    let marks = ChunkMarks::new(dev.block_count());
    let mut sweep = Sweep::new(epoch);
    assert_eq!(epoch, GcEpoch(1));
    dev.begin().unwrap();
    while !sweep.is_done() {
        store.sweep_step(dev, &marks, &mut sweep, 64).unwrap();
    }
    save_root(dev, &store);
    dev.commit(Durability::Durable).unwrap();
    assert!(contains_uncached(dev, &store.encode_root(), &chunk.hash));
}

#[test]
fn chunk_put_in_an_aborted_transaction_is_not_found_after_it() {
    let (mut svc, root0) = Service::new(4096);
    let (_, root1) = svc.owner_tx(|s| s.put_small(&root0, &noise(4096, 1)).unwrap());
    svc.owner().begin().unwrap();
    let b = noise(4096, 2);
    let (chunk, root2) = svc.put_small(&root1, &b).unwrap();
    assert!(svc.contains(&root2, &chunk.hash));
    svc.owner().abort();

    svc.owner().begin().unwrap();
    assert!(!svc.contains(&root1, &chunk.hash));
    let (again, root3) = svc.put_small(&root1, &b).unwrap();
    let st = ContentStore::open(&root3).unwrap();
    save_root(svc.owner(), &st);
    svc.owner().commit(Durability::Durable).unwrap();
    assert_eq!(again, chunk);
    assert!(contains_uncached(svc.owner(), &root3, &chunk.hash));
    assert!(st.check(svc.owner(), true).is_clean());
}
