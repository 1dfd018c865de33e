//! Crash simulation with the block layer's recording device: inserts,
//! replacements, removes that merge nodes and collapse the root, and
//! snapshots taken between transactions. The power is cut at every flush
//! and at sampled points between, with unflushed writes dropped, kept,
//! reordered and torn. Every crash image must mount and hold exactly one
//! committed state at least as new as the last Durable commit returned:
//! the live tree and every snapshot read exactly that state's contents and
//! pass `check`.

mod common;

use std::collections::BTreeMap;

use block::crash::{CutMode, RecordingDevice, SplitMix};
use block::{BlockStore, Durability, MemDevice, Transactional, BLOCK_SIZE};
use cowbtree::TreeRoot;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Roots as the owner persists them in root slot 0: the live root, then
/// the number of snapshots and their roots.
fn save<T: Transactional>(tx: &mut T, live: &TreeRoot, snaps: &[TreeRoot]) {
    let mut block = vec![0u8; BLOCK_SIZE];
    block[..48].copy_from_slice(&live.encode());
    block[48] = snaps.len() as u8;
    for (i, s) in snaps.iter().enumerate() {
        block[49 + i * 48..49 + (i + 1) * 48].copy_from_slice(&s.encode());
    }
    let at = tx.root_block(0);
    tx.write(at, &block).unwrap();
}

fn load<T: Transactional>(tx: &mut T) -> (TreeRoot, Vec<TreeRoot>) {
    let mut block = vec![0u8; BLOCK_SIZE];
    let at = tx.root_block(0);
    tx.read(at, &mut block).unwrap();
    let live = TreeRoot::decode(&block[..48]).unwrap();
    let snaps = (0..block[48] as usize)
        .map(|i| TreeRoot::decode(&block[49 + i * 48..49 + (i + 1) * 48]).unwrap())
        .collect();
    (live, snaps)
}

struct State {
    live: Model,
    snaps: Vec<Model>,
}

fn key(i: u32) -> Vec<u8> {
    format!("{:08x}{}", i.wrapping_mul(2654435761), "k".repeat(40)).into_bytes()
}

#[test]
fn every_crash_state_is_a_committed_state() {
    crash_states(false);
}

/// The same with each round's inserts made as one `insert_batch` (its
/// nodes written at the end of the batch, in block order, in the same
/// transaction).
#[test]
fn every_crash_state_is_a_committed_state_with_batched_inserts() {
    crash_states(true);
}

fn crash_states(batched: bool) {
    let mut tx = common::new_store(4096);
    tx.begin().unwrap();
    let mut live = cowbtree::create(&mut tx).unwrap();
    save(&mut tx, &live, &[]);
    tx.commit(Durability::Durable).unwrap();
    let image = tx.unmount().unwrap().into_image();
    let mut tx = BlockStore::mount(RecordingDevice::new(image), common::config()).unwrap();

    let mut model = Model::new();
    let mut snaps: Vec<TreeRoot> = Vec::new();
    let mut snap_models: Vec<Model> = Vec::new();
    let mut states = vec![State {
        live: Model::new(),
        snaps: Vec::new(),
    }];
    let mut acks: Vec<(usize, usize)> = vec![(0, 0)];
    let mut rng = SplitMix(99);
    for round in 0..24u32 {
        tx.begin().unwrap();
        if round % 6 == 5 {
            snaps.push(cowbtree::snapshot(&mut live).unwrap());
            snap_models.push(model.clone());
        }
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for _ in 0..40 {
            let i = rng.below(600) as u32;
            if rng.below(3) == 0 || round >= 18 {
                assert_eq!(
                    cowbtree::remove(&mut tx, &mut live, &key(i)).unwrap(),
                    model.remove(&key(i))
                );
            } else if batched {
                batch.push((key(i), vec![round as u8; rng.below(200) as usize]));
            } else {
                let v = vec![round as u8; rng.below(200) as usize];
                assert_eq!(
                    cowbtree::insert(&mut tx, &mut live, &key(i), &v).unwrap(),
                    model.insert(key(i), v)
                );
            }
        }
        // The round's inserts (none unless `batched`), after its removes.
        // Stable: a key drawn twice ends with its later value.
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        let before = model.len();
        for (k, v) in &batch {
            model.insert(k.clone(), v.clone());
        }
        let added = cowbtree::insert_batch(&mut tx, &mut live, &batch, &mut [0; 4096]).unwrap();
        assert_eq!(added as usize, model.len() - before);
        save(&mut tx, &live, &snaps);
        let durable = round % 3 != 0;
        tx.commit(if durable {
            Durability::Durable
        } else {
            Durability::Batched
        })
        .unwrap();
        states.push(State {
            live: model.clone(),
            snaps: snap_models.clone(),
        });
        if durable {
            acks.push((tx.device().ops().len(), states.len() - 1));
        }
    }
    assert!(live.height >= 2 || model.len() < 50);

    let dev = tx.device();
    let ops = dev.ops().len();
    let mut cuts = dev.flush_points();
    cuts.extend((0..ops).step_by((ops / 50).max(1)));
    cuts.push(ops);
    let mut checked = 0;
    for (n, &cut) in cuts.iter().enumerate() {
        for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
            let seed = n as u64 * 17 + 3;
            let what = format!("cut {cut}/{ops} {mode:?} seed {seed}");
            let image = dev.crash_image(cut, mode, &mut SplitMix(seed));
            let mut tx = BlockStore::mount(MemDevice::from_image(image), common::config())
                .unwrap_or_else(|e| panic!("{what}: mount: {e:?}"));
            let (live, snaps) = load(&mut tx);
            let got_live = common::scan(&mut tx, &live);
            let got_snaps: Vec<Model> = snaps.iter().map(|s| common::scan(&mut tx, s)).collect();
            let must = acks
                .iter()
                .filter(|(p, _)| *p <= cut)
                .map(|&(_, s)| s)
                .max()
                .unwrap_or(0);
            let ok = states
                .iter()
                .enumerate()
                .skip(must)
                .any(|(_, s)| s.live == got_live && s.snaps == got_snaps);
            assert!(
                ok,
                "{what}: recovered trees match no committed state at or after {must}"
            );
            for r in std::iter::once(&live).chain(snaps.iter()) {
                let report = cowbtree::check(&mut tx, r);
                assert!(report.is_clean(), "{what}: {:?}", report.problems);
            }
            checked += 1;
        }
    }
    println!("crash states checked: {checked}");
    assert!(checked >= 100);
}
