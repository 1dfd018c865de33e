//! The tree walks of a small durable put, counted (deterministic, never
//! timed): node reads (through the fs's node cache, hits and misses) per
//! 4 KiB registry blob put with its repository link, under group commit as
//! the fs service runs it. Each root-to-leaf walk reads ~3 nodes. The put
//! used to resolve each path again for `exists`, `mkdir_all` and `create`
//! (each component a dirent lookup) and to ask "any quota?" with a range
//! scan several times: 137.7 node reads per put. Now each path is walked
//! once (the registry root's part shared by the blob and its link) and
//! whether limits exist is remembered: 65.7 (docs/speed.md, issue #13).
//!
//! One scenario per file: the test binary's counters are its own.

mod common;

use filesystem::{Registry, RepoName};

#[test]
fn a_small_put_walks_each_path_once() {
    let mut reg = Registry::new(common::fresh_fs(8192));
    reg.fs().set_group_commit(true);
    let put = |reg: &mut Registry<common::Store>, i: u64| {
        common::small_put(reg, i);
        reg.fs().sync().unwrap();
    };
    // Warm up as the profile does (examples/small_put_profile.rs).
    for i in 0..64 {
        put(&mut reg, i);
    }
    const N: u64 = 100;
    let s0 = reg.fs().node_cache_stats();
    for i in 64..64 + N {
        put(&mut reg, i);
    }
    let s1 = reg.fs().node_cache_stats();
    let reads = (s1.hits + s1.misses) - (s0.hits + s0.misses);
    println!(
        "per small put: {:.1} node reads through the cache",
        reads as f64 / N as f64
    );
    // Every put and its link are there, and the tree is sound.
    for i in 0..64 + N {
        let d = common::sha256(&common::small_blob(i));
        assert_eq!(
            reg.read_blob(&d, 1 << 20).unwrap(),
            Some(common::small_blob(i))
        );
        let repo = RepoName::parse("bench/small").unwrap();
        assert!(reg.is_linked(&repo, &d).unwrap());
    }
    assert!(reg.fs().fsck(true).unwrap().is_clean());
    // The walks are still made (a put reads nodes), and no more of them.
    assert!(reads >= 40 * N, "{reads} reads: the puts made none?");
    assert!(reads <= BOUND * N, "{reads} node reads for {N} puts");
}

/// Node reads per put allowed: a little above the 65.7 measured (one
/// walk per path); the old ~138 (a walk per check) fails it.
const BOUND: u64 = 72;
