//! A stepped GC whose block reach is spread over many units (N = 3 nodes
//! each), with changes between every two units, the reach's included:
//! files written, overwritten and deleted, snapshots created and removed,
//! blobs put (some deduplicating against garbage), deleted. Twin stores
//! take the same changes: one with the stepped GC among them, then one
//! more GC; the other with nothing between, then the one-call GC. Both
//! read back as the model says, fsck clean with no garbage block, and hold
//! the same files, snapshots and chunks: the stepped reach lost nothing
//! and left nothing the next collection does not take.

mod common;

use std::collections::BTreeMap;

use common::{fingerprint, fresh_registry, noise, sha256, Store};
use filesystem::{fsck_blocks, Digest, GcStage, GcSteps, Registry};

#[derive(Default)]
struct Model {
    files: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<Digest, Vec<u8>>,
    snaps: Vec<String>,
}

/// Data that is garbage when the run starts (put and deleted before it);
/// changes put it again (a dedup hit on chunks the sweep may take).
fn garbage_blob(seed: u64) -> Vec<u8> {
    noise(5000 + seed, 100_000)
}

fn setup(reg: &mut Registry<Store>, m: &mut Model) {
    for i in 0..400u64 {
        let (p, d) = (
            format!("/d{}/f{i:03}", i % 4),
            noise(i, 500 + i as usize * 7),
        );
        reg.fs().write_file(&p, &d).unwrap();
        m.files.insert(p, d);
    }
    for b in 0..4u64 {
        let d = noise(200 + b, 200_000);
        reg.put_blob(&sha256(&d), &mut &d[..]).unwrap();
        m.blobs.insert(sha256(&d), d);
    }
    reg.fs().snapshot_create("base").unwrap();
    m.snaps.push("base".into());
    for s in 0..4u64 {
        let d = garbage_blob(s);
        reg.put_blob(&sha256(&d), &mut &d[..]).unwrap();
        assert!(reg.delete_blob(&sha256(&d)).unwrap());
    }
    for i in (0..400u64).step_by(2) {
        let (p, d) = (format!("/d{}/f{i:03}", i % 4), noise(900 + i, 600));
        reg.fs().write_file(&p, &d).unwrap();
        m.files.insert(p, d);
    }
}

/// Change number `round`: the same in both twins.
fn change(reg: &mut Registry<Store>, m: &mut Model, round: u64) {
    match round % 7 {
        0 => {
            let (p, d) = (format!("/new/n{round}"), noise(round, 2000));
            reg.fs().write_file(&p, &d).unwrap();
            m.files.insert(p, d);
        }
        1 => {
            let p = format!("/d{}/f{:03}", round % 4, (round * 7) % 400);
            if m.files.remove(&p).is_some() {
                reg.fs().unlink(&p).unwrap();
            }
        }
        2 => {
            let d = garbage_blob(round / 7 % 4);
            reg.put_blob(&sha256(&d), &mut &d[..]).unwrap();
            m.blobs.insert(sha256(&d), d);
        }
        3 => {
            if let Some(d) = m.blobs.keys().nth((round % 3) as usize).cloned() {
                assert!(reg.delete_blob(&d).unwrap());
                m.blobs.remove(&d);
            }
            let d = noise(3000 + round, 60_000);
            reg.put_blob(&sha256(&d), &mut &d[..]).unwrap();
            m.blobs.insert(sha256(&d), d);
        }
        4 => {
            let name = format!("s{round}");
            reg.fs().snapshot_create(&name).unwrap();
            m.snaps.push(name);
            if round.is_multiple_of(3) {
                let gone = m.snaps.remove(0);
                reg.fs().snapshot_delete(&gone).unwrap();
            }
        }
        5 => {
            let p = format!("/d{}/f{:03}", round % 4, (round * 5) % 400);
            let d = noise(7000 + round, 1500);
            reg.fs().write_file(&p, &d).unwrap();
            m.files.insert(p, d);
        }
        _ => {
            let p = format!("/new/n{}", round - 6);
            if m.files.remove(&p).is_some() {
                reg.fs().unlink(&p).unwrap();
            }
        }
    }
}

fn check(reg: &mut Registry<Store>, m: &Model, when: &str) {
    for (path, data) in &m.files {
        assert_eq!(
            reg.fs().read_file(path, u64::MAX).as_ref(),
            Ok(data),
            "{when}: {path}"
        );
    }
    for (d, data) in &m.blobs {
        let got = reg.read_blob(d, u64::MAX).unwrap();
        assert_eq!(got.as_ref(), Some(data), "{when}: blob {d}");
    }
    let f = reg.fs().fsck(true).unwrap();
    assert!(f.is_clean(), "{when}: {:?}", f.problems);
    let b = fsck_blocks(reg.fs(), true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{when}: {b:?}");
}

#[test]
fn changes_between_reach_units_lose_nothing_and_end_as_one_call_gc_ends() {
    let (mut stepped, mut ms) = (fresh_registry(32768), Model::default());
    setup(&mut stepped, &mut ms);
    let steps = GcSteps {
        sweep: 8,
        free: 2,
        reach: 3,
    };
    let mut run = stepped.fs().gc_start_with(false, steps).unwrap();
    let (mut round, mut reach_changes) = (0u64, 0u64);
    loop {
        let stage = run.stage();
        if stepped.fs().gc_step(&mut run, 1).unwrap() {
            break;
        }
        round += 1;
        reach_changes += u64::from(stage == GcStage::Reach);
        change(&mut stepped, &mut ms, round);
    }
    assert!(reach_changes > 50, "{reach_changes} changes in the reach");
    let report = stepped.fs().gc_finish(run);
    assert!(
        report.blocks_freed > 0 && report.sweep.chunks > 0,
        "{report:?}"
    );
    stepped.fs().gc(false).unwrap();
    check(&mut stepped, &ms, "stepped");

    let (mut twin, mut mt) = (fresh_registry(32768), Model::default());
    setup(&mut twin, &mut mt);
    for r in 1..=round {
        change(&mut twin, &mut mt, r);
    }
    twin.fs().gc(false).unwrap();
    check(&mut twin, &mt, "one-call");

    assert_eq!(fingerprint(stepped.fs()), fingerprint(twin.fs()));
    // The same chunks, and the same blocks in use.
    assert_eq!(stepped.fs().stats().unwrap(), twin.fs().stats().unwrap());
    // Nothing left for another collection in either.
    for reg in [&mut stepped, &mut twin] {
        let again = reg.fs().gc(false).unwrap();
        assert_eq!(
            (again.sweep.chunks, again.blocks_freed),
            (0, 0),
            "{again:?}"
        );
    }
}
