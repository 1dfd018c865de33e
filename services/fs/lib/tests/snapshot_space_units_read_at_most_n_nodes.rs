//! `snap space` is bounded per unit: on trees of thousands of files, five
//! snapshots that share most nodes and a content index of many nodes,
//! every unit reads at most N nodes (tree nodes through the node cache,
//! content index nodes through the device: `testkit::CountingReads`), the
//! run takes many units, and nodes the other trees share are read once.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::noise;
use filesystem::Fs;
use testkit::CountingReads;

type Counting = CountingReads<BlockStore<MemDevice>>;

const N: usize = 16;
const FILES: u64 = 3000;

fn populated() -> Fs<Counting> {
    let store = BlockStore::format(MemDevice::new(65536), Config::default()).unwrap();
    let mut fs = Fs::open(CountingReads::new(store), 0).unwrap();
    for i in 0..FILES {
        fs.write_file(&format!("/d{}/f{i:05}", i % 7), &noise(i, 300))
            .unwrap();
    }
    for s in 0..5u64 {
        fs.snapshot_create(&format!("s{s}")).unwrap();
        // Runs of neighbours: few leaves change, the rest is shared. The
        // run of the snapshot before is rewritten again: what it held of
        // that run is its own.
        let before = s.saturating_sub(1) * 500..s.saturating_sub(1) * 500 + 60;
        for i in (s * 500..s * 500 + 60).chain(before.filter(|_| s > 0)) {
            fs.write_file(
                &format!("/d{}/f{i:05}", i % 7),
                &noise(10_000 + s * FILES + i, 300),
            )
            .unwrap();
        }
    }
    fs
}

/// Node reads so far: the node cache's hits plus the device's reads.
fn reads(fs: &Fs<Counting>) -> u64 {
    fs.node_cache_stats().hits + fs.device().blocks
}

#[test]
fn each_unit_reads_at_most_n_nodes() {
    let mut fs = populated();
    let mut run = fs.snapshot_space_start_with("s2", N).unwrap();
    let (mut units, mut most, mut total) = (0u64, 0u64, 0u64);
    loop {
        let before = reads(&fs);
        let done = fs.snapshot_space_step(&mut run, 1).unwrap();
        let n = reads(&fs) - before;
        units += 1;
        total += n;
        most = most.max(n);
        assert!(n <= N as u64, "unit {units} read {n} nodes");
        if done {
            break;
        }
    }
    let got = fs.snapshot_space_finish(run);
    eprintln!("{got:?}: {total} reads in {units} units of at most {most}");
    assert_eq!(got.chunks, FILES, "{got:?}");
    // s2's own: the run written after s1, rewritten after s2.
    assert_eq!(got.exclusive_chunks, 60, "{got:?}");
    assert!(units > 100, "only {units} units");
    // Six trees of the same shape, mostly the same nodes: the other five
    // cost about one walk of s2, not five.
    assert!(got.nodes_read < 3 * got.target_nodes, "{got:?}");
}
