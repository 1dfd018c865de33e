//! The content service's index cache when a request comes with a root
//! other than the one it last answered: the owner's pin of the index for
//! its GC (the live tree then copies the pinned nodes instead of rewriting
//! them), a GC walk with the pinned root, and a second store on the same
//! device. Every answer must be what the uncached store says.

mod common;

use block::{Durability, Extent, Transactional};
use common::service::{contains_uncached, Root, Service};
use common::{noise, save_root};
use content::ContentStore;

/// Index extents under `root`, through the service.
fn visit(svc: &mut Service, root: &Root) -> Vec<Extent> {
    let mut out = Vec::new();
    svc.request(root, |s, dev| s.visit_blocks(dev, |e| out.push(e)))
        .unwrap();
    out
}

fn visit_uncached(svc: &mut Service, root: &Root) -> Vec<Extent> {
    let mut out = Vec::new();
    ContentStore::open(root)
        .unwrap()
        .visit_blocks(svc.owner(), |e| out.push(e))
        .unwrap();
    out
}

fn put_many(svc: &mut Service, mut root: Root, seeds: core::ops::Range<u64>) -> Root {
    svc.owner_tx(|s| {
        for seed in seeds {
            root = s.put_small(&root, &noise(4096, seed)).unwrap().1;
        }
        ((), root)
    })
    .1
}

#[test]
fn pinned_root_and_live_root_alternate_without_stale_nodes() {
    let (mut svc, root0) = Service::new(16384);
    let root1 = put_many(&mut svc, root0, 0..400);

    // The owner pins the index (a change of its own root), commits.
    let mut live = ContentStore::open(&root1).unwrap();
    let pinned = live.pin_index().unwrap().encode_root();
    svc.owner().begin().unwrap();
    save_root(svc.owner(), &live);
    svc.owner().commit(Durability::Durable).unwrap();
    let live_root = live.encode_root();

    let pinned_before = visit(&mut svc, &pinned);
    assert_eq!(pinned_before, visit_uncached(&mut svc, &pinned));
    // Puts with the live root copy the pinned nodes they change.
    let live2 = put_many(&mut svc, live_root, 400..460);
    assert_eq!(visit(&mut svc, &pinned), pinned_before);
    assert_eq!(visit(&mut svc, &live2), visit_uncached(&mut svc, &live2));
    assert!(svc.contains(&live2, &content_hash(459)));
    assert!(!svc.contains(&pinned, &content_hash(459)));
    assert!(svc.cache.stats().root_changes >= 4);
}

#[test]
fn two_stores_on_one_device_never_see_each_others_nodes() {
    let (mut svc, a0) = Service::new(16384);
    // A second, empty store, created by its owner.
    svc.owner().begin().unwrap();
    let b0 = ContentStore::create(svc.owner()).unwrap().encode_root();
    svc.owner().commit(Durability::Durable).unwrap();

    let (mut a, mut b) = (a0, b0);
    for seed in 0..40u64 {
        let (ra, rb) = svc
            .owner_tx(|s| {
                let (_, ra) = s.put_small(&a, &noise(4096, seed)).unwrap();
                let (_, rb) = s.put_small(&b, &noise(4096, 1000 + seed)).unwrap();
                ((ra, rb), ra)
            })
            .0;
        a = ra;
        b = rb;
        assert!(svc.contains(&a, &content_hash(seed)));
        assert!(!svc.contains(&b, &content_hash(seed)));
        assert!(svc.contains(&b, &content_hash(1000 + seed)));
    }
    for root in [a, b] {
        let st = ContentStore::open(&root).unwrap();
        assert!(st.check(svc.owner(), true).is_clean());
        assert_eq!(st.stats().chunks, 40);
    }
    assert!(contains_uncached(svc.owner(), &b, &content_hash(1039)));
}

fn content_hash(seed: u64) -> [u8; 32] {
    *blake3::hash(&noise(4096, seed)).as_bytes()
}
