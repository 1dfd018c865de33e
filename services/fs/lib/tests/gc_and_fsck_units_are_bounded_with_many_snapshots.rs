//! A user can make any number of snapshots: no unit of a stepped GC or
//! fsck may grow with them. With thousands of snapshots of long names (a
//! snapshot table of more than N nodes) of a small tree, starting a GC or
//! an fsck, and each of their units, reads at most N nodes (counted by
//! the node cache's hits and the device's reads), where reading the table
//! in one request would read more; and both still see every snapshot: the
//! GC marks every snapshot's tree and frees a file only a deleted
//! snapshot held, the fsck checks every tree.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::noise;
use filesystem::{Fs, GcStage, GcSteps, SHAPE_NODES};
use testkit::CountingReads;

type Counting = CountingReads<BlockStore<MemDevice>>;

const SNAPSHOTS: usize = 3000;
/// Most nodes a unit (or a start) may read: twice the fsck's shape units'
/// own bound (a unit of marks or of directory entries looks each of the
/// tree's few files up), and the reach's step below.
const N: u64 = 2 * SHAPE_NODES as u64;

/// A name of 120 bytes: about 20 records fill a table leaf.
fn snap_name(i: usize) -> String {
    format!("{i:05}-{}", "x".repeat(114))
}

/// Files, then `SNAPSHOTS` snapshots with a file written between some,
/// and one file held only by the last snapshot (deleted from the live
/// tree, the snapshot deleted: garbage for the next GC).
fn populated() -> Fs<Counting> {
    let store = BlockStore::format(MemDevice::new(65536), Config::default()).unwrap();
    let mut fs = Fs::open(CountingReads::new(store), 0).unwrap();
    for i in 0..16u64 {
        fs.write_file(&format!("/d{}/f{i:03}", i % 2), &noise(i, 3000))
            .unwrap();
    }
    for i in 0..SNAPSHOTS {
        if i % 600 == 0 {
            fs.write_file(&format!("/s/f{i}"), &noise(10_000 + i as u64, 5000))
                .unwrap();
        }
        fs.snapshot_create(&snap_name(i)).unwrap();
    }
    fs.write_file("/only-in-gone", &noise(99, 50_000)).unwrap();
    fs.snapshot_create("zz-gone").unwrap();
    fs.unlink("/only-in-gone").unwrap();
    fs.snapshot_delete("zz-gone").unwrap();
    fs
}

fn reads(fs: &Fs<Counting>) -> u64 {
    fs.node_cache_stats().hits + fs.device().blocks
}

/// Nodes of the snapshot table (read by an fsck's table units), and the
/// fsck's report.
fn table_nodes(fs: &mut Fs<Counting>) -> (u64, filesystem::FsckReport) {
    let mut run = fs.fsck_start(false, false).unwrap();
    let mut nodes = 0;
    loop {
        let table = run.phase() == "table";
        let before = reads(fs);
        let done = fs.fsck_step(&mut run, 1).unwrap();
        if table {
            nodes += reads(fs) - before;
        }
        if done {
            return (nodes, fs.fsck_finish(run));
        }
    }
}

#[test]
fn gc_start_and_every_unit_read_at_most_n_nodes_with_thousands_of_snapshots() {
    let mut fs = populated();
    let (table, f) = table_nodes(&mut fs);
    assert!(f.is_clean(), "{:?}", f.problems);
    assert_eq!(f.trees, SNAPSHOTS as u64 + 1);
    // One request reading the whole table (as the GC's start did) would
    // break the bound.
    assert!(table > N, "the table has only {table} nodes");
    let steps = GcSteps {
        reach: N as usize,
        ..GcSteps::default()
    };
    let before = reads(&fs);
    let mut run = fs.gc_start_with(false, steps).unwrap();
    let start = reads(&fs) - before;
    assert!(start <= N, "gc start read {start} nodes");
    let mut most = [0u64; 6];
    let mut units = [0u64; 6];
    loop {
        let stage = run.stage() as usize;
        let before = reads(&fs);
        let done = fs.gc_step(&mut run, 1).unwrap();
        let read = reads(&fs) - before;
        most[stage] = most[stage].max(read);
        units[stage] += 1;
        if done {
            break;
        }
    }
    let report = fs.gc_finish(run);
    println!(
        "table of {table} nodes; gc start: {start} reads; units per stage {units:?}, \
         most reads {most:?}; {report:?}"
    );
    assert!(most.iter().all(|m| *m <= N), "{most:?}");
    // Every snapshot's tree was marked (and the live one), in many units.
    assert_eq!(report.roots, SNAPSHOTS as u64 + 1);
    assert!(units[GcStage::Mark as usize] > SNAPSHOTS as u64);
    // The deleted snapshot's file went.
    assert!(report.sweep.chunks > 0, "{report:?}");
    assert!(report.blocks_freed > 0, "{report:?}");
    let f = fs.fsck(true).unwrap();
    assert!(f.is_clean(), "{:?}", f.problems);
}

#[test]
fn fsck_start_and_every_unit_read_at_most_n_nodes_with_thousands_of_snapshots() {
    let mut fs = populated();
    let before = reads(&fs);
    let mut run = fs.fsck_start(true, true).unwrap();
    let start = reads(&fs) - before;
    assert!(start <= N, "fsck start read {start} nodes");
    let (mut table_units, mut table_reads, mut units, mut most) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let phase = run.phase();
        let before = reads(&fs);
        let done = fs.fsck_step(&mut run, 1).unwrap();
        let read = reads(&fs) - before;
        units += 1;
        if phase == "table" {
            table_units += 1;
            table_reads += read;
        }
        // The content store's pages have their own bound.
        if phase != "content" {
            most = most.max(read);
        }
        if done {
            break;
        }
    }
    let report = fs.fsck_finish(run);
    println!(
        "fsck: {units} units, {table_units} of the table ({table_reads} reads), at most {most} reads"
    );
    assert!(most <= N, "a unit read {most} nodes");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.trees, SNAPSHOTS as u64 + 1);
    // The table is far more than N nodes (one request reading it whole,
    // as the fsck's start did, would break the bound): its check was
    // split over several units.
    assert!(table_reads > 2 * N, "{table_reads} table nodes");
    assert!(table_units >= 3, "{table_units} table units");
}
