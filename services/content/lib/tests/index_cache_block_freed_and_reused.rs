//! The content service's index cache when index blocks are freed and
//! reused by another writer: after a pin, the live index copies the pinned
//! nodes it changes; the owner's block GC frees the nodes only the pin
//! reached and the owner reuses them for its own tree. The cache held
//! images of those blocks: none may be served as the block's contents.

mod common;

use std::collections::BTreeSet;

use block::{Durability, Extent, Transactional};
use common::service::{Root, Service};
use common::{noise, save_root};
use content::ContentStore;

fn blocks_of(svc: &mut Service, root: &Root) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut add = |e: Extent| out.extend(e.start..e.end());
    ContentStore::open(root)
        .unwrap()
        .visit_blocks(svc.owner(), &mut add)
        .unwrap();
    out
}

#[test]
fn freed_index_nodes_reused_by_the_owner_are_read_from_the_device() {
    let (mut svc, root0) = Service::new(16384);
    let mut root = root0;
    root = svc
        .owner_tx(|s| {
            for seed in 0..400 {
                root = s.put_small(&root, &noise(4096, seed)).unwrap().1;
            }
            ((), root)
        })
        .1;
    let mut live = ContentStore::open(&root).unwrap();
    let pinned = live.pin_index().unwrap().encode_root();
    let mut root = live.encode_root();
    // Through the service: every pinned node is now in its cache.
    let mut seen_pinned = Vec::new();
    svc.request(&pinned, |s, dev| {
        s.visit_blocks(dev, |e| seen_pinned.push(e))
    })
    .unwrap();
    root = svc
        .owner_tx(|s| {
            for seed in 400..460 {
                root = s.put_small(&root, &noise(4096, seed)).unwrap().1;
            }
            ((), root)
        })
        .1;

    // The owner's GC: blocks only the pin reached are freed (durably),
    // then its own tree takes blocks, the freed ones among them.
    let only_pinned: BTreeSet<u64> = blocks_of(&mut svc, &pinned)
        .difference(&blocks_of(&mut svc, &root))
        .copied()
        .collect();
    assert!(
        !only_pinned.is_empty(),
        "the live index copied pinned nodes"
    );
    let dev = svc.owner();
    dev.begin().unwrap();
    for &b in &only_pinned {
        dev.free(Extent::new(b, 1)).unwrap();
    }
    save_root(dev, &ContentStore::open(&root).unwrap());
    dev.commit(Durability::Durable).unwrap();
    // Freed blocks come back after a checkpoint; the allocator hands out
    // blocks after its cursor first, so the owner takes the rest of the
    // device, then its tree's nodes land in the freed blocks.
    dev.checkpoint().unwrap();
    dev.begin().unwrap();
    let mut padding = Vec::new();
    for run in [1024, 64, 8] {
        while let Ok(e) = dev.allocate(run) {
            padding.push(e);
        }
    }
    let mut reused = 0;
    let mut owners = Vec::new();
    // Every block left, one node each (the freed ones are among them).
    while let Ok(t) = cowbtree::create(&mut *dev) {
        reused += usize::from(only_pinned.contains(&t.block));
        owners.push(t);
    }
    dev.commit(Durability::Durable).unwrap();
    assert!(reused > 0, "the owner's tree took freed index blocks");

    // Room for the service's next puts.
    let dev = svc.owner();
    dev.begin().unwrap();
    for e in padding {
        dev.free(e).unwrap();
    }
    dev.commit(Durability::Durable).unwrap();
    dev.checkpoint().unwrap();

    // The service goes on with the live root: right answers, and it wrote
    // none of its old images over the owner's nodes.
    root = svc
        .owner_tx(|s| {
            for seed in 460..500 {
                root = s.put_small(&root, &noise(4096, seed)).unwrap().1;
            }
            ((), root)
        })
        .1;
    for seed in (0..500).step_by(7) {
        let hash = *blake3::hash(&noise(4096, seed)).as_bytes();
        assert!(svc.contains(&root, &hash), "chunk {seed}");
    }
    let st = ContentStore::open(&root).unwrap();
    assert!(st.check(&mut svc.cache, true).is_clean());
    assert!(st.check(svc.owner(), true).is_clean());
    for t in &owners {
        assert!(cowbtree::check(svc.owner(), t).is_clean());
    }
    // A request with the stale pinned root reads what the device holds
    // now (the owner's nodes), exactly as the uncached store does.
    let mut cached = Vec::new();
    let through = svc
        .request(&pinned, |s, dev| s.visit_blocks(dev, |e| cached.push(e)))
        .map(|_| ());
    let mut direct = Vec::new();
    let uncached = ContentStore::open(&pinned)
        .unwrap()
        .visit_blocks(svc.owner(), |e| direct.push(e));
    assert_eq!(through.is_ok(), uncached.is_ok());
    assert_eq!(cached, direct);
    assert_ne!(cached, seen_pinned);
}
