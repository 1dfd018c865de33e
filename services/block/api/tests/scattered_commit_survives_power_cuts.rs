//! The commit path of gathered journaled writes (`BlockClient` ->
//! `write_scattered` / `commit_scattered` -> the service) keeps the block
//! layer's guarantee: after a power cut at any point the store holds
//! exactly the blocks of one committed transaction, never a mix, and never
//! one older than the last Durable commit that returned, and the
//! unjournaled data a committed transaction names is there. Seeded workloads
//! over the service on a recording device, cut at every flush, just
//! before flushes and at sampled points, each cut tried with the unflushed
//! writes dropped, kept and torn at random.

mod common;

use std::cell::RefCell;

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};
use block_api::client::JOURNALED_FRESH_BLOCKS;
use block_api::{BlockClient, MAX_SCATTER};
use block_server::Service;
use testkit::{record_from, RecordingDevice, SplitMix};

use common::{image, Svc};

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 512,
        group_commit_blocks: 32,
    }
}

/// Blocks the workload rewrites: more than one scattered call holds, so a
/// large transaction sends a full buffer before its commit carries the rest.
const BLOCKS: u64 = MAX_SCATTER as u64 + 16;
/// The seed of each transaction's unjournaled block.
const FRESH: u64 = u64::MAX - 1;

/// What a recovered store must hold after transaction `t`: the
/// transaction that last wrote each block.
type Model = Vec<u64>;

struct Run {
    device: RecordingDevice,
    first: u64,
    /// Model after each committed transaction (index = its number).
    models: Vec<Model>,
    /// (ops recorded when a Durable commit returned, its transaction).
    durable: Vec<(usize, u64)>,
}

fn run(seed: u64, transactions: u64) -> Run {
    let base = BlockStore::format(MemDevice::new(2048), config()).unwrap();
    let image0 = base.unmount().unwrap().into_image();
    let server = RefCell::new(Svc(Service::new(record_from(image0, config()), 1)));
    let mut c = BlockClient::connect_over(common::Badged {
        server: &server,
        badge: 1,
    })
    .unwrap();
    let mut rng = SplitMix(seed);
    let marker = c.root_block(0);

    // Transaction 0: the blocks, each written once.
    c.begin().unwrap();
    let first = c.allocate(BLOCKS).unwrap().start;
    for b in 0..BLOCKS {
        c.write(first + b, &image(b, 0)).unwrap();
    }
    c.write(marker, &image(u64::MAX, 0)).unwrap();
    c.commit(Durability::Durable).unwrap();
    let ops = |s: &RefCell<Svc<RecordingDevice>>| s.borrow().0.store().device().ops().len();
    let mut models = vec![vec![0; BLOCKS as usize]];
    let mut durable = vec![(ops(&server), 0)];

    for t in 1..=transactions {
        let mut model = models.last().unwrap().clone();
        c.begin().unwrap();
        // Small (a few blocks, some twice) or large (all of them).
        let writes = if rng.below(4) == 0 {
            BLOCKS
        } else {
            1 + rng.below(6)
        };
        for i in 0..writes {
            let b = if writes == BLOCKS {
                i
            } else {
                rng.below(BLOCKS)
            };
            c.write(first + b, &image(b, t)).unwrap();
            model[b as usize] = t;
            if rng.below(3) == 0 {
                // Read back inside the transaction: its own image.
                let mut back = vec![0u8; BLOCK_SIZE];
                c.read(first + b, &mut back).unwrap();
                assert_eq!(back, image(b, t));
            }
        }
        // Unjournaled data of the transaction, which the marker names: the
        // client folds it into the commit's call (a few blocks journaled,
        // more marked `SCATTER_FRESH`), and it must be on the disk with
        // the commit that makes it reachable.
        let n = if rng.below(2) == 0 {
            1
        } else {
            JOURNALED_FRESH_BLOCKS as u64 + 4
        };
        let fresh = c.allocate(n).unwrap().start;
        let data: Vec<u8> = (0..n).flat_map(|k| image(FRESH - k, t)).collect();
        c.write_fresh(fresh, &data).unwrap();
        let mut mark = image(u64::MAX, 0);
        mark[..8].copy_from_slice(&t.to_le_bytes());
        mark[8..16].copy_from_slice(&fresh.to_le_bytes());
        mark[16..24].copy_from_slice(&n.to_le_bytes());
        c.write(marker, &mark).unwrap();
        let mode = if rng.below(3) == 0 {
            Durability::Durable
        } else {
            Durability::Batched
        };
        c.commit(mode).unwrap();
        models.push(model);
        if mode == Durability::Durable {
            durable.push((ops(&server), t));
        }
    }
    c.sync().unwrap();
    durable.push((ops(&server), transactions));
    let device = server.into_inner().0.into_store().into_device();
    Run {
        device,
        first,
        models,
        durable,
    }
}

/// Checks the store recovered from `disk`: one whole transaction, not
/// older than the last Durable commit before `cut`.
fn check(r: &Run, disk: Vec<u8>, cut: usize, what: &str) {
    let Some((mut store, t)) = common::recovered(disk, config(), &r.durable, cut, FRESH, what)
    else {
        return;
    };
    let mut buf = vec![0u8; BLOCK_SIZE];
    let model = &r.models[t as usize];
    for b in 0..BLOCKS {
        store.read(r.first + b, &mut buf).unwrap();
        let want = image(b, model[b as usize]);
        assert!(
            buf == want,
            "{what}: transaction {t}, block {b} is not its image"
        );
    }
}

#[test]
fn scattered_commit_survives_power_cuts() {
    let mut states = 0;
    for seed in 1..=3u64 {
        let r = run(seed, 24);
        states += common::every_cut_state(&r.device, seed, 0xC0FFEE, |disk, cut, what| {
            check(&r, disk, cut, what)
        });
    }
    println!("{states} crash states checked");
    assert!(states > 300, "{states}");
}
