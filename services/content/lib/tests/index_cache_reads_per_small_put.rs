//! Block-service reads per small put (a `push` and a `finish` request in
//! one committed transaction each), with the index cache kept across
//! requests against one emptied at every request (what the service did
//! before): a deterministic count, over an index of a few thousand chunks.

mod common;

use common::noise;
use common::service::{Root, Service};

/// Reads per put over `puts` small puts after `stored` chunks, the cache
/// emptied before every request when `per_request`.
fn reads_per_put(stored: u64, puts: u64, per_request: bool) -> (u64, u64) {
    let (mut svc, root0) = Service::new(32768);
    let mut root: Root = root0;
    root = svc
        .owner_tx(|s| {
            for seed in 0..stored {
                root = s.put_small(&root, &noise(4096, seed)).unwrap().1;
            }
            ((), root)
        })
        .1;
    let before = svc.reads();
    for seed in stored..stored + puts {
        root = svc
            .owner_tx(|s| {
                let data = noise(4096, seed);
                let mut w = content::ChunkWriter::new();
                if per_request {
                    s.cache.forget_all();
                }
                let (_, r) = s
                    .request(&root, |st, dev| {
                        w.write(st, dev, &data, |_| ()).map_err(Into::into)
                    })
                    .unwrap();
                if per_request {
                    s.cache.forget_all();
                }
                let (_, r) = s
                    .request(&r, |st, dev| {
                        w.finish(st, dev, |_| ()).map(|_| ()).map_err(Into::into)
                    })
                    .unwrap();
                ((), r)
            })
            .1;
    }
    let reads = svc.reads() - before;
    let st = content::ContentStore::open(&root).unwrap();
    assert!(st.check(svc.owner(), true).is_clean());
    assert_eq!(st.stats().chunks, stored + puts);
    (reads, st.root().index.height.into())
}

#[test]
fn small_puts_read_no_index_node_twice_across_requests() {
    let (per_request, height) = reads_per_put(3000, 100, true);
    let (kept, height2) = reads_per_put(3000, 100, false);
    assert_eq!(height, height2);
    println!(
        "reads per 100 small puts: {per_request} per-request cache, {kept} kept; height {height}"
    );
    // Emptied per request: the finish's lookup and insert walk the index
    // from its root once (the root to leaf path, `height` nodes).
    assert_eq!(per_request, 100 * height);
    // Kept: every node this index has (3000 chunks: a root and its
    // leaves, under the cache's bound) was read while the index was
    // built, and each put reads or writes only those: no read at all.
    assert_eq!(kept, 0, "{kept} reads kept vs {per_request}");
}
