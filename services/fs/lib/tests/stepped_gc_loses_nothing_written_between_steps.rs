//! A stepped chunk GC (`gc_run`) with changes between every two steps:
//! files written, overwritten and deleted, snapshots created and removed,
//! blobs put (some deduplicating against garbage the run is about to
//! sweep), deleted, and uploaded in pieces across the run. Every file and
//! blob then reads back as the model says, fsck is clean, and one more
//! collection reclaims everything the changes left behind.

mod common;

use std::collections::BTreeMap;

use common::{fresh_registry, noise, sha256, Store};
use filesystem::{fsck_blocks, Algorithm, Digest, GcSteps, Registry};

/// What the store must hold: files by path, blobs by digest.
#[derive(Default)]
struct Model {
    files: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<Digest, Vec<u8>>,
}

impl Model {
    fn write(&mut self, reg: &mut Registry<Store>, path: &str, data: Vec<u8>) {
        reg.fs().write_file(path, &data).unwrap();
        self.files.insert(path.to_string(), data);
    }
    fn put_blob(&mut self, reg: &mut Registry<Store>, data: Vec<u8>) -> Digest {
        let d = sha256(&data);
        reg.put_blob(&d, &mut &data[..]).unwrap();
        self.blobs.insert(d.clone(), data);
        d
    }
    fn check(&self, reg: &mut Registry<Store>, when: &str) {
        for (path, data) in &self.files {
            let got = reg.fs().read_file(path, u64::MAX);
            assert_eq!(got.as_ref(), Ok(data), "{when}: {path}");
        }
        for (d, data) in &self.blobs {
            let got = reg.read_blob(d, u64::MAX).unwrap();
            assert_eq!(got.as_ref(), Some(data), "{when}: blob {d}");
        }
    }
}

/// Data that is garbage when the run starts: a blob put and deleted. The
/// changes put it again between steps (a dedup hit on unmarked chunks).
fn garbage_blob(seed: u64) -> Vec<u8> {
    noise(5000 + seed, 150_000)
}

#[test]
fn changes_between_every_gc_step_lose_nothing_and_the_next_gc_reclaims_the_rest() {
    let mut reg = fresh_registry(32768);
    let mut m = Model::default();
    for i in 0..300u64 {
        m.write(
            &mut reg,
            &format!("/d{}/f{i:03}", i % 3),
            noise(i, 1000 + i as usize * 11),
        );
    }
    let mut blobs = Vec::new();
    for b in 0..4u64 {
        blobs.push(m.put_blob(&mut reg, noise(200 + b, 300_000)));
    }
    reg.fs().snapshot_create("base").unwrap();
    for s in 0..6u64 {
        let data = garbage_blob(s);
        let d = sha256(&data);
        reg.put_blob(&d, &mut &data[..]).unwrap();
        assert!(reg.delete_blob(&d).unwrap());
    }
    // Garbage blocks for the free phase: overwritten files' old nodes.
    for i in (0..300u64).step_by(2) {
        m.write(
            &mut reg,
            &format!("/d{}/f{i:03}", i % 3),
            noise(900 + i, 700),
        );
    }

    // An upload that runs across the whole collection.
    let long = noise(77, 600_000);
    let long_d = sha256(&long);
    let mut up = Some(reg.begin_upload(None, Algorithm::Sha256).unwrap());
    let mut sent = 0usize;

    let small = GcSteps {
        sweep: 4,
        free: 1,
        reach: 4,
    };
    let mut run = reg.fs().gc_start_with(false, small).unwrap();
    let mut round = 0u64;
    loop {
        let done = reg.fs().gc_step(&mut run, 1).unwrap();
        if done {
            break;
        }
        round += 1;
        match round % 8 {
            0 => m.write(&mut reg, &format!("/new/n{round}"), noise(round, 3000)),
            1 => {
                let path = format!("/d{}/f{:03}", round % 3, (round * 7) % 300);
                if m.files.remove(&path).is_some() {
                    reg.fs().unlink(&path).unwrap();
                }
            }
            2 => {
                // A dedup hit on chunks that were garbage at the start.
                let data = garbage_blob(round / 8 % 6);
                m.put_blob(&mut reg, data);
            }
            3 => {
                if let Some(d) = blobs.pop() {
                    assert!(reg.delete_blob(&d).unwrap());
                    m.blobs.remove(&d);
                }
                let d = m.put_blob(&mut reg, noise(3000 + round, 90_000));
                blobs.insert(0, d);
            }
            4 => {
                let name = format!("s{round}");
                reg.fs().snapshot_create(&name).unwrap();
                if round.is_multiple_of(3) {
                    reg.fs().snapshot_delete(&name).unwrap();
                }
            }
            5 => {
                if sent < long.len() {
                    let end = (sent + 50_000).min(long.len());
                    reg.upload_write(up.as_mut().unwrap(), &long[sent..end])
                        .unwrap();
                    sent = end;
                }
            }
            6 => {
                let path = format!("/d{}/f{:03}", round % 3, (round * 5) % 300);
                m.write(&mut reg, &path, noise(7000 + round, 2500));
            }
            _ => {
                if reg.fs().snapshot_delete("base").is_ok() {
                    reg.fs().snapshot_create("base").unwrap();
                }
            }
        }
        if round.is_multiple_of(16) {
            m.check(&mut reg, &format!("round {round}"));
        }
    }
    assert!(
        round > 40,
        "only {round} steps: the changes did not interleave"
    );
    let report = reg.fs().gc_finish(run);
    assert!(report.sweep.chunks > 0, "{report:?}");
    reg.upload_write(up.as_mut().unwrap(), &long[sent..])
        .unwrap();
    reg.finish_upload(up.take().unwrap(), &long_d).unwrap();
    m.blobs.insert(long_d, long);

    m.check(&mut reg, "after the stepped gc");
    let f = reg.fs().fsck(true).unwrap();
    assert!(f.is_clean(), "{:?}", f.problems);
    let b = fsck_blocks(reg.fs(), true).unwrap();
    assert!(b.is_clean(), "{:?}", b.problems);

    // What the changes left (deleted data, the pin's leftovers) goes now.
    for s in reg.fs().snapshot_list().unwrap() {
        reg.fs().snapshot_delete(&s.name).unwrap();
    }
    let next = reg.fs().gc(false).unwrap();
    assert!(next.sweep.chunks > 0, "{next:?}");
    let b = fsck_blocks(reg.fs(), true).unwrap();
    assert!(b.is_clean() && b.garbage_blocks == 0, "{b:?}");
    let again = reg.fs().gc(false).unwrap();
    assert_eq!(
        (again.sweep.chunks, again.blocks_freed),
        (0, 0),
        "{again:?}"
    );
    m.check(&mut reg, "after the next gc");
}
