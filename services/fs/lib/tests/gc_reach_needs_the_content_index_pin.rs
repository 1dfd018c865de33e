//! Scenario: the content index is rewritten between two units of a
//! stepped GC's block reach (chunks put after the reach's moment R split
//! its root leaf, the splits written in place unless the index is pinned).
//! With the index pinned at R (`Chunks::pin_index`), every file reads back
//! and the block fsck is clean. The same scenario over a content store
//! whose "pin" only copies the root (no copy-on-write snapshot) loses
//! chunks: the reach walks the old root block, which now holds half the
//! entries, so chunks that existed at R go unreached and are freed while
//! referenced. That half shows the scenario catches a missing pin.

mod common;

use std::collections::BTreeMap;

use block::{BlockStore, Config, MemDevice};
use common::noise;
use common::twisted::{Twist, Twisted};
use filesystem::{fsck_blocks, Fs, GcStage, GcSteps};

type Store = BlockStore<MemDevice>;

/// The in-process store; with `pins: false` its `pin_index` copies the
/// root without pinning it (what the reach would walk with no pin).
#[derive(Clone)]
struct MaybePinned {
    pins: bool,
}

impl Twist for MaybePinned {
    fn pins(&self) -> bool {
        self.pins
    }
}

/// Runs the scenario; `Err` says what was lost.
fn scenario(pin: bool) -> Result<(), String> {
    let chunks = Twisted::new(MaybePinned { pins: pin });
    let store = Store::format(MemDevice::new(16384), Config::default()).unwrap();
    let mut fs = Fs::open_with(store, 0, chunks).unwrap();
    let mut files = BTreeMap::new();
    // One chunk per file (under the minimum chunk size): 40 index
    // entries, one leaf; overwrites leave garbage for the run to free.
    for i in 0..40u64 {
        let path = format!("/f{i:03}");
        fs.write_file(&path, &noise(i, 12_000)).unwrap();
        files.insert(path, noise(i, 12_000));
    }
    // Nodes the overwrites copy away from the snapshot are garbage once
    // it goes: blocks for the run to free.
    fs.snapshot_create("s").unwrap();
    for i in 0..10u64 {
        let path = format!("/f{i:03}");
        fs.write_file(&path, &noise(1000 + i, 12_000)).unwrap();
        files.insert(path, noise(1000 + i, 12_000));
    }
    fs.snapshot_delete("s").unwrap();
    let steps = GcSteps {
        reach: 2,
        ..GcSteps::default()
    };
    let mut run = fs.gc_start_with(false, steps).unwrap();
    let mut n = 100u64;
    let mut reach_units = 0;
    loop {
        let stage = run.stage();
        if fs.gc_step(&mut run, 1).unwrap() {
            break;
        }
        // Right after R, enough puts to split the index's root leaf; then
        // a few more between every reach unit.
        let puts = match stage {
            GcStage::Pin => 120,
            GcStage::Reach => 3,
            _ => 0,
        };
        reach_units += u64::from(stage == GcStage::Reach);
        for _ in 0..puts {
            let path = format!("/n{n:04}");
            fs.write_file(&path, &noise(n, 12_000)).unwrap();
            files.insert(path, noise(n, 12_000));
            n += 1;
        }
    }
    assert!(reach_units > 10, "{reach_units} reach units");
    let report = fs.gc_finish(run);
    assert!(report.blocks_freed > 0, "{report:?}");
    // Reuse what was freed: a chunk freed while referenced is overwritten.
    for i in 0..200u64 {
        let path = format!("/after{i:03}");
        fs.write_file(&path, &noise(9000 + i, 12_000)).unwrap();
        files.insert(path, noise(9000 + i, 12_000));
    }
    // The same image under the plain store (same on-disk format), for
    // the block fsck.
    let image = fs.into_device().unmount().unwrap().into_image();
    let store = Store::mount(MemDevice::from_image(image), Config::default()).unwrap();
    let mut fs = Fs::open(store, 0).unwrap();
    let b = fsck_blocks(&mut fs, true).unwrap();
    if !b.is_clean() {
        let first = b.problems.first().cloned().unwrap_or_default();
        return Err(format!("fsck: {} problems; {first:.300}", b.problems.len()));
    }
    for (path, data) in &files {
        match fs.read_file(path, u64::MAX) {
            Ok(got) if got == *data => {}
            other => return Err(format!("{path}: {:?}", other.map(|d| d.len()))),
        }
    }
    Ok(())
}

#[test]
fn a_content_index_rewritten_between_reach_units_loses_nothing_when_pinned() {
    assert_eq!(scenario(true), Ok(()));
    // Without the pin the same steps free chunks still referenced.
    let lost = scenario(false).expect_err("an unpinned index lost nothing");
    eprintln!("without the pin: {lost}");
}
