//! A stepped GC takes its trees from a pinned snapshot table a page of
//! records at a time: snapshots made and removed between its units, on
//! both sides of the page it is at (names before and after its cursor),
//! with files written, overwritten and deleted (some held only by a
//! snapshot removed mid-run), change nothing it decides. Twin stores take
//! the same changes: one with the stepped GC (small steps, every unit a
//! change) then one more GC; the other with nothing between, then the
//! one-call GC. Both read back as the model says, are fsck clean with no
//! garbage block, and hold the same files, snapshots, chunks and blocks.

mod common;

use std::collections::BTreeMap;

use common::{fingerprint, fresh_fs, noise, Store};
use filesystem::{fsck_blocks, Fs, GcStage, GcSteps};

/// Snapshots at the start: more than two pages of the table.
const SNAPSHOTS: u64 = 150;

#[derive(Default)]
struct Model {
    files: BTreeMap<String, Vec<u8>>,
    /// Snapshot name to the files it holds.
    snaps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl Model {
    fn write(&mut self, fs: &mut Fs<Store>, path: String, data: Vec<u8>) {
        fs.write_file(&path, &data).unwrap();
        self.files.insert(path, data);
    }
    fn unlink(&mut self, fs: &mut Fs<Store>, path: &str) {
        if self.files.remove(path).is_some() {
            fs.unlink(path).unwrap();
        }
    }
    fn snapshot(&mut self, fs: &mut Fs<Store>, name: String) {
        fs.snapshot_create(&name).unwrap();
        self.snaps.insert(name, self.files.clone());
    }
    fn delete_snapshot(&mut self, fs: &mut Fs<Store>, name: &str) {
        if self.snaps.remove(name).is_some() {
            fs.snapshot_delete(name).unwrap();
        }
    }
}

/// Files, and snapshots each holding a file of its own that the live tree
/// no longer has.
fn setup(fs: &mut Fs<Store>, m: &mut Model) {
    for i in 0..60u64 {
        m.write(
            fs,
            format!("/d{}/f{i:02}", i % 3),
            noise(i, 700 + 13 * i as usize),
        );
    }
    for s in 0..SNAPSHOTS {
        let own = format!("/own/o{s}");
        m.write(fs, own.clone(), noise(1000 + s, 3000));
        m.snapshot(fs, format!("m{s:03}"));
        m.unlink(fs, &own);
    }
}

/// Change number `round`: the same in both twins.
fn change(fs: &mut Fs<Store>, m: &mut Model, round: u64) {
    match round % 6 {
        // Removed: a snapshot the marks may not have reached yet (late
        // names), or passed already (early ones).
        0 => m.delete_snapshot(fs, &format!("m{:03}", SNAPSHOTS - 1 - round % SNAPSHOTS)),
        1 => m.delete_snapshot(fs, &format!("m{:03}", round * 7 % SNAPSHOTS)),
        // Made: names before and after every cursor, of a live tree that
        // keeps changing.
        2 => {
            m.write(fs, format!("/new/n{round}"), noise(5000 + round, 2500));
            m.snapshot(fs, format!("a{round:04}"));
        }
        3 => m.snapshot(fs, format!("z{round:04}")),
        4 => {
            let path = format!("/d{}/f{:02}", round % 3, round * 5 % 60);
            m.write(fs, path, noise(9000 + round, 900));
        }
        _ => {
            m.unlink(fs, &format!("/new/n{}", round - 3));
            m.unlink(fs, &format!("/d{}/f{:02}", round % 3, round * 11 % 60));
        }
    }
}

fn check(fs: &mut Fs<Store>, m: &Model, when: &str) {
    for (path, data) in &m.files {
        assert_eq!(
            fs.read_file(path, u64::MAX).as_ref(),
            Ok(data),
            "{when}: {path}"
        );
    }
    for (name, files) in &m.snaps {
        for (path, data) in files {
            let got = fs.read_file_in(Some(name), path, u64::MAX);
            assert_eq!(got.as_ref(), Ok(data), "{when}: {name}:{path}");
        }
    }
    let names: Vec<String> = fs
        .snapshot_list()
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, m.snaps.keys().cloned().collect::<Vec<_>>(), "{when}");
    let f = fs.fsck(true).unwrap();
    assert!(f.is_clean(), "{when}: {:?}", f.problems);
    let b = fsck_blocks(fs, true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{when}: {b:?}");
}

#[test]
fn snapshots_made_and_removed_between_units_end_as_one_call_gc_ends() {
    let (mut stepped, mut ms) = (fresh_fs(32768), Model::default());
    setup(&mut stepped, &mut ms);
    let steps = GcSteps {
        sweep: 8,
        free: 2,
        reach: 5,
    };
    let mut run = stepped.gc_start_with(false, steps).unwrap();
    let (mut round, mut mark_changes) = (0u64, 0u64);
    loop {
        let stage = run.stage();
        if stepped.gc_step(&mut run, 1).unwrap() {
            break;
        }
        round += 1;
        mark_changes += u64::from(stage == GcStage::Mark);
        change(&mut stepped, &mut ms, round);
    }
    let report = stepped.gc_finish(run);
    // Every tree of the start was marked, with changes all along.
    assert_eq!(report.roots, SNAPSHOTS + 1, "{report:?}");
    assert!(
        mark_changes > SNAPSHOTS,
        "{mark_changes} changes in the marks"
    );
    assert!(report.blocks_freed > 0, "{report:?}");
    // What the snapshots removed mid-run held goes at the next GC.
    let next = stepped.gc(false).unwrap();
    assert!(next.sweep.chunks > 0, "{next:?}");
    check(&mut stepped, &ms, "stepped");

    let (mut twin, mut mt) = (fresh_fs(32768), Model::default());
    setup(&mut twin, &mut mt);
    for r in 1..=round {
        change(&mut twin, &mut mt, r);
    }
    twin.gc(false).unwrap();
    check(&mut twin, &mt, "one-call");

    assert_eq!(fingerprint(&mut stepped), fingerprint(&mut twin));
    assert_eq!(stepped.stats().unwrap(), twin.stats().unwrap());
    for fs in [&mut stepped, &mut twin] {
        let again = fs.gc(false).unwrap();
        assert_eq!(
            (again.sweep.chunks, again.blocks_freed),
            (0, 0),
            "{again:?}"
        );
    }
}
