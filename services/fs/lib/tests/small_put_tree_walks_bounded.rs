//! The tree walks of a small durable put, counted (deterministic, never
//! timed): node reads (through the fs's node cache, hits and misses) per
//! 4 KiB registry blob put with its repository link, under group commit as
//! the fs service runs it. Each root-to-leaf walk reads ~3 nodes. The put
//! used to resolve each path again for `exists`, `mkdir_all` and `create`
//! (each component a dirent lookup) and to ask "any quota?" with a range
//! scan several times: 137.7 node reads per put. Now each path is walked
//! once (the registry root's part shared by the blob and its link) and
//! whether limits exist is remembered: 65.7 (docs/speed.md, issue #13).
//! Then the registry's directories found once are answered from the fs's
//! directory cache (`src/fs/dir_cache.rs`): ~11 of the put's ~17 lookups
//! walk no nodes, 45.8.
//!
//! One scenario per file: the test binary's counters are its own.

mod common;

#[test]
fn a_small_put_walks_each_path_once() {
    const N: u64 = 100;
    let (s0, s1) = common::measure_small_puts(N, |reg| reg.fs().node_cache_stats());
    let reads = (s1.hits + s1.misses) - (s0.hits + s0.misses);
    println!(
        "per small put: {:.1} node reads through the cache",
        reads as f64 / N as f64
    );
    // The walks are still made (a put reads nodes), and no more of them.
    assert!(reads >= 30 * N, "{reads} reads: the puts made none?");
    assert!(reads <= BOUND * N, "{reads} node reads for {N} puts");
    // The hot directories are answered by the directory cache: the two
    // new digest directories' lookups miss, the others hit.
    let (d0, d1) = common::measure_small_puts(N, |reg| reg.fs().dir_cache_stats());
    let hits = d1.hits - d0.hits;
    assert!(hits >= 10 * N, "{hits} directory cache hits for {N} puts");
}

/// Node reads per put allowed: a little above the 45.8 measured (one walk
/// per path, the registry's directories cached); the 65.7 of a walk per
/// directory lookup fails it, and the old ~138 (a walk per check).
const BOUND: u64 = 50;
