//! The stepped fsck's shape and content units are bounded: a unit of a
//! tree's shape check reads at most `SHAPE_NODES` nodes and a unit of
//! the content store's check at most `CHECK_PAGE_NODES` index nodes, on
//! trees and an index far bigger than that. On damaged images the stepped
//! run (one unit a step) finds exactly what the one-call fsck finds; with
//! writes and collections between its units it finds no false problem
//! (and says the content totals were not compared).

mod common;

use block::{BlockStore, Config, MemDevice};
use common::damage::{self, Damage};
use common::noise;
use filesystem::{Fs, SHAPE_NODES};
use testkit::CountingReads;

type Counting = CountingReads<BlockStore<MemDevice>>;

const FILES: usize = 4000;

/// Thousands of small files of distinct bytes: big trees, and a chunk
/// each, so the content index has many leaves.
fn populated() -> Fs<Counting> {
    let store = BlockStore::format(MemDevice::new(65536), Config::default()).unwrap();
    let dev = CountingReads::new(store);
    let mut fs = Fs::open(dev, 0).unwrap();
    for i in 0..FILES {
        fs.write_file(&format!("/d{}/f{i:05}", i % 7), &noise(i as u64, 300))
            .unwrap();
    }
    fs.snapshot_create("s").unwrap();
    fs
}

/// Node reads so far: the node cache's hits plus the device's reads (a
/// miss of the cache is a device read).
fn reads(fs: &Fs<Counting>) -> u64 {
    fs.node_cache_stats().hits + fs.device().blocks
}

#[test]
fn shape_and_content_units_read_a_bounded_number_of_nodes() {
    let mut fs = populated();
    let mut run = fs.fsck_start(false, true).unwrap();
    let (mut shape_units, mut content_units) = (0, 0);
    let (mut max_shape, mut max_content) = (0, 0);
    loop {
        let phase = run.phase();
        let before = reads(&fs);
        let done = fs.fsck_step(&mut run, 1).unwrap();
        let n = reads(&fs) - before;
        match phase {
            "shape" => {
                shape_units += 1;
                max_shape = max_shape.max(n);
            }
            "content" => {
                content_units += 1;
                max_content = max_content.max(n);
            }
            _ => {}
        }
        if done {
            break;
        }
    }
    let report = fs.fsck_finish(run);
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    println!(
        "{shape_units} shape units (at most {max_shape} reads), {content_units} content \
         pages (at most {max_content} reads)"
    );
    assert!(max_shape <= SHAPE_NODES as u64, "{max_shape}");
    assert!(
        max_content <= content::CHECK_PAGE_NODES as u64,
        "{max_content}"
    );
    // Two trees (the snapshot and the live one) of many nodes each, and
    // an index of many pages: the work was split.
    assert!(shape_units >= 4, "{shape_units} shape units");
    assert!(content_units >= 2, "{content_units} content pages");
}

#[test]
fn writes_and_collections_between_units_give_no_false_problems() {
    let mut fs = populated();
    let mut run = fs.fsck_start(true, true).unwrap();
    let mut round = 0u64;
    while !fs.fsck_step(&mut run, 1).unwrap() {
        round += 1;
        match round % 4 {
            0 => fs
                .unlink(&format!("/d{}/f{:05}", round % 7, round * 7 % FILES as u64))
                .map(drop)
                .unwrap_or(()),
            1 => drop(
                fs.write_file(&format!("/new/n{round}"), &noise(10_000 + round, 5000))
                    .unwrap(),
            ),
            2 => drop(fs.gc(false).unwrap()),
            _ => drop(
                fs.write_file("/d1/f00001", &noise(20_000 + round, 700))
                    .unwrap(),
            ),
        }
    }
    let report = fs.fsck_finish(run);
    assert!(report.is_clean(), "false problems: {:?}", report.problems);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(fs.fsck(true).unwrap().is_clean());
}

/// A small image with files, a snapshot and chunks (as
/// `corrupt_disk_never_panics` damages).
fn small_image() -> Vec<u8> {
    let store = BlockStore::format(MemDevice::new(2048), damage::config()).unwrap();
    let mut fs = Fs::open(store, 0).unwrap();
    for i in 0..300u64 {
        fs.write_file(&format!("/a/f{i}"), &noise(i, 2000 + i as usize * 10))
            .unwrap();
    }
    fs.snapshot_create("s").unwrap();
    fs.write_file("/x/y", b"after snapshot").unwrap();
    fs.into_device().unmount().unwrap().into_image()
}

/// One-call fsck and the stepped one, one unit a step, on `image`.
fn both(image: &[u8]) -> Option<(String, String)> {
    let open = || {
        let store =
            BlockStore::mount(MemDevice::from_image(image.to_vec()), damage::config()).ok()?;
        Fs::open(store, 0).ok()
    };
    let whole = open()?.fsck(true);
    let mut fs = open()?;
    let stepped = fs.fsck_start(true, false).and_then(|mut run| {
        while !fs.fsck_step(&mut run, 1)? {}
        Ok(fs.fsck_finish(run))
    });
    Some((format!("{whole:?}"), format!("{stepped:?}")))
}

#[test]
fn stepped_fsck_finds_what_the_one_call_fsck_finds_on_damaged_images() {
    let image = small_image();
    let mut damage = Damage::of(&image, 11);
    let mut damaged_found = 0;
    for round in 0..60 {
        let (img, block) = damage.apply(&image, round);
        let Some((whole, stepped)) = both(&img) else {
            continue;
        };
        assert_eq!(whole, stepped, "round {round}, block {block}");
        if whole.contains("problem_count: 0,") {
            continue;
        }
        damaged_found += 1;
    }
    println!("{damaged_found} of 60 damaged images had findings");
    assert!(
        damaged_found >= 20,
        "only {damaged_found} damaged images found"
    );
}
