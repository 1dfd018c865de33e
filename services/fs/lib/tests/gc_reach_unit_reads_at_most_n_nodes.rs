//! The block reach of a stepped GC is bounded per unit: with trees and a
//! content index of many nodes (thousands of files, snapshots sharing and
//! not sharing nodes, hundreds of chunks), every reach unit reads at most
//! N nodes (counted by the node cache, which sees every node read, the
//! content index's included), the reach takes many units, and the run
//! finds and frees what the one-call GC on the same store does.

mod common;

use common::{fresh_fs, noise, Store};
use filesystem::{fsck_blocks, Fs, GcReport, GcStage, GcSteps};

const N: usize = 8;

fn reads(fs: &Fs<Store>) -> u64 {
    let s = fs.node_cache_stats();
    s.hits + s.misses
}

/// The same store each time: files, snapshots, overwrites, deletes.
fn build() -> Fs<Store> {
    let mut fs = fresh_fs(65536);
    for i in 0..1500u64 {
        let len = if i % 10 == 0 { 40_000 } else { 300 };
        fs.write_file(&format!("/d{}/f{i:04}", i % 7), &noise(i, len))
            .unwrap();
    }
    fs.snapshot_create("a").unwrap();
    for i in (0..1500u64).step_by(3) {
        fs.write_file(&format!("/d{}/f{i:04}", i % 7), &noise(5000 + i, 20_000))
            .unwrap();
    }
    fs.snapshot_create("b").unwrap();
    for i in (0..1500u64).step_by(5) {
        fs.unlink(&format!("/d{}/f{i:04}", i % 7)).unwrap();
    }
    fs.snapshot_delete("a").unwrap();
    fs
}

#[test]
fn each_reach_unit_reads_at_most_n_nodes_and_frees_what_one_call_gc_frees() {
    let mut fs = build();
    let steps = GcSteps {
        reach: N,
        ..GcSteps::default()
    };
    let mut run = fs.gc_start_with(false, steps).unwrap();
    let (mut units, mut most, mut total) = (0u64, 0u64, 0u64);
    loop {
        let stage = run.stage();
        let before = reads(&fs);
        let done = fs.gc_step(&mut run, 1).unwrap();
        let read = reads(&fs) - before;
        match stage {
            GcStage::Reach => {
                units += 1;
                most = most.max(read);
                total += read;
                assert!(read <= N as u64, "a reach unit read {read} nodes");
            }
            // The pin reads no node: it copies roots and the bitmap.
            GcStage::Pin => assert_eq!(read, 0),
            _ => {}
        }
        if done {
            break;
        }
    }
    let stepped: GcReport = fs.gc_finish(run);
    assert!(stepped.blocks_freed > 0, "{stepped:?}");
    // Hundreds of nodes and chunks: the walk was spread over many units
    // (a content page reports at most N extents, chunks included), the
    // tree walk's using all N.
    assert!(units > 100, "only {units} reach units");
    assert!(total > 8 * N as u64, "{total} nodes in {units} units");
    assert_eq!(most, N as u64);
    eprintln!("reach: {total} nodes read in {units} units of at most {N}");
    let b = fsck_blocks(&mut fs, true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{b:?}");

    let mut twin = build();
    let one_call = twin.gc(false).unwrap();
    assert_eq!(stepped, one_call);
}
