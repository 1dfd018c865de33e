//! The node images a small durable put copies out of the fs's node cache,
//! counted (deterministic, never timed). A tree lookup (`cowbtree::get`)
//! reads each node on its path through `read_verified_with`, and the node
//! cache lends a cached image instead of copying 4 KiB into the reader's
//! buffer; under QEMU's TCG such a copy costs about as much as a CRC-32C
//! of the block (docs/speed.md, issue #13). Before, every one of the ~66
//! node reads per put was a copy. Inserts now probe each node where it is
//! lent too and build only the changed node's new image, in a buffer of
//! their own (`cowbtree::tree::insert_at`): a put copies no cached node.
//! (Removals still read into a buffer; a put removes nothing.)
//!
//! One scenario per file: the test binary's counters are its own.

mod common;

use filesystem::{Registry, RepoName};

#[test]
fn a_small_put_copies_only_the_nodes_it_changes() {
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
    let copied = s1.copied - s0.copied;
    let lent = (s1.hits - s0.hits) - copied;
    println!(
        "per small put: {:.1} node reads, {:.1} cached images lent, {:.1} copied",
        reads as f64 / N as f64,
        lent as f64 / N as f64,
        copied as f64 / N as f64
    );
    // Every put and its link are there, and the tree is sound.
    let repo = RepoName::parse("bench/small").unwrap();
    for i in 0..64 + N {
        let d = common::sha256(&common::small_blob(i));
        assert_eq!(
            reg.read_blob(&d, 1 << 20).unwrap(),
            Some(common::small_blob(i))
        );
        assert!(reg.is_linked(&repo, &d).unwrap());
    }
    assert!(reg.fs().fsck(true).unwrap().is_clean());
    // The lookups and the inserts' walks are still made, all lent.
    assert!(lent >= LENT_AT_LEAST * N, "{lent} lent for {N} puts");
    assert_eq!(copied, 0, "{copied} copied for {N} puts");
}

/// Cached images lent per put at least: the 45.8 reads measured now (the
/// registry's directories cached) are all lent. When lookups first lent,
/// 34.0 were lent and the inserts' 31.7 copied; before, every read copied.
const LENT_AT_LEAST: u64 = 40;
