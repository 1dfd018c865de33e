//! A delegate's writes handed over to the holder (`BlockClient::handover`,
//! then `write_handed_over` into the holder's transaction, carried by its
//! `commit_scattered`) keep the block layer's guarantee as if the delegate
//! had sent them itself: after a power cut at any point the store holds
//! one whole committed transaction (the holder's blocks, the delegate's
//! journaled block and the unjournaled data the holder's marker names),
//! never older than the last Durable commit that returned. Seeded
//! workloads, cut at every flush, before flushes and at sampled points,
//! with the unflushed writes dropped, kept and torn at random. Some
//! transactions take the old path (the delegate sends its writes itself),
//! so both kinds interleave in one journal; in half the runs the holder's
//! commits arm its next transaction (`commit_armed`), which the
//! delegate's allocation opens, as in the fs service. And the calls: a
//! handed-over transaction costs the delegate its allocation only, the
//! holder its commit (and, unarmed, its begin).

mod common;

use std::cell::RefCell;

use block::{BlockStore, Config, Durability, MemDevice, Transactional, BLOCK_SIZE};
use block_api::client::{write_handed_over, JOURNALED_FRESH_BLOCKS};
use block_api::{block_store, BlockClient, MAX_SCATTER};
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

/// The holder's own blocks.
const BLOCKS: u64 = 12;
/// Seeds of the delegate's journaled block and of its unjournaled blocks.
const INDEX: u64 = u64::MAX - 2;
const FRESH: u64 = u64::MAX - 100;

struct Run {
    device: RecordingDevice,
    first: u64,
    index: u64,
    /// The transaction that last wrote each holder block, after each
    /// transaction; and the last to write the delegate's block.
    models: Vec<(Vec<u64>, u64)>,
    durable: Vec<(usize, u64)>,
    handed_over: u64,
}

fn run(seed: u64, transactions: u64) -> Run {
    let base = BlockStore::format(MemDevice::new(2048), config()).unwrap();
    let image0 = base.unmount().unwrap().into_image();
    let server = RefCell::new(Svc(Service::new(record_from(image0, config()), 1)));
    let badged = |badge| common::Badged {
        server: &server,
        badge,
    };
    let mut holder = BlockClient::connect_over(badged(1)).unwrap();
    holder.set_delegate(Some(2));
    // Odd seeds as the fs service runs: each commit arms the next
    // transaction, which the delegate's allocation opens.
    holder.set_armed_begin(seed % 2 == 1);
    let mut delegate = BlockClient::connect_over(badged(2)).unwrap();
    let mut rng = SplitMix(seed);
    let marker = holder.root_block(0);

    holder.begin().unwrap();
    let first = holder.allocate(BLOCKS).unwrap().start;
    let index = delegate.allocate(1).unwrap().start;
    delegate.write(index, &image(INDEX, 0)).unwrap();
    delegate.send_gathered().unwrap();
    for b in 0..BLOCKS {
        holder.write(first + b, &image(b, 0)).unwrap();
    }
    holder.write(marker, &image(u64::MAX, 0)).unwrap();
    holder.commit(Durability::Durable).unwrap();
    let ops = |s: &RefCell<Svc<RecordingDevice>>| s.borrow().0.store().device().ops().len();
    let mut models = vec![(vec![0; BLOCKS as usize], 0)];
    let mut durable = vec![(ops(&server), 0)];
    let mut handed_over = 0;

    for t in 1..=transactions {
        let (mut model, _) = models.last().unwrap().clone();
        holder.begin().unwrap();
        // The delegate's request: an extent of new data and its journaled
        // block (the content service's chunk and index node).
        let n = if rng.below(2) == 0 {
            1
        } else {
            JOURNALED_FRESH_BLOCKS as u64 + 3
        };
        let calls = delegate.counters();
        let fresh = delegate.allocate(n).unwrap().start;
        let data: Vec<u8> = (0..n).flat_map(|k| image(FRESH - k, t)).collect();
        delegate.write_fresh(fresh, &data).unwrap();
        delegate.write(index, &image(INDEX, t)).unwrap();
        if rng.below(4) != 0 {
            let (images, numbers) = delegate.handover(MAX_SCATTER).expect("they fit");
            let images = images.to_vec();
            let at: Vec<u8> = numbers.iter().flat_map(|b| b.to_le_bytes()).collect();
            delegate.drop_gathered();
            let made = delegate.counters();
            assert_eq!(
                (made.calls() - calls.calls(), made.allocate - calls.allocate),
                (1, 1),
                "a handed-over request costs the delegate its allocation only"
            );
            write_handed_over(&mut holder, &images, &at).unwrap();
            handed_over += 1;
        } else {
            delegate.send_gathered().unwrap();
        }
        for _ in 0..1 + rng.below(4) {
            let b = rng.below(BLOCKS);
            holder.write(first + b, &image(b, t)).unwrap();
            model[b as usize] = t;
        }
        let mut mark = image(u64::MAX, 0);
        mark[..8].copy_from_slice(&t.to_le_bytes());
        mark[8..16].copy_from_slice(&fresh.to_le_bytes());
        mark[16..24].copy_from_slice(&n.to_le_bytes());
        holder.write(marker, &mark).unwrap();
        let mode = if rng.below(3) == 0 {
            Durability::Durable
        } else {
            Durability::Batched
        };
        let commits = |c: &BlockClient<_>| {
            c.calls_of(block_store::label::commit_scattered)
                + c.calls_of(block_store::label::commit_armed)
        };
        let before = (holder.counters().calls(), commits(&holder));
        holder.commit(mode).unwrap();
        assert_eq!(
            (holder.counters().calls(), commits(&holder)),
            (before.0 + 1, before.1 + 1),
            "the holder's writes and the handed-over ones ride on its commit"
        );
        models.push((model, t));
        if mode == Durability::Durable {
            durable.push((ops(&server), t));
        }
    }
    holder.sync().unwrap();
    durable.push((ops(&server), transactions));
    let device = server.into_inner().0.into_store().into_device();
    Run {
        device,
        first,
        index,
        models,
        durable,
        handed_over,
    }
}

fn check(r: &Run, disk: Vec<u8>, cut: usize, what: &str) {
    let Some((mut store, t)) = common::recovered(disk, config(), &r.durable, cut, FRESH, what)
    else {
        return;
    };
    let mut buf = vec![0u8; BLOCK_SIZE];
    let (model, index_t) = &r.models[t as usize];
    store.read(r.index, &mut buf).unwrap();
    assert!(
        buf == image(INDEX, *index_t),
        "{what}: transaction {t}: the delegate's block is not its image"
    );
    for b in 0..BLOCKS {
        store.read(r.first + b, &mut buf).unwrap();
        assert!(
            buf == image(b, model[b as usize]),
            "{what}: transaction {t}, block {b} is not its image"
        );
    }
}

#[test]
fn handed_over_writes_survive_power_cuts() {
    let mut states = 0;
    for seed in 1..=3u64 {
        let r = run(seed, 24);
        assert!(r.handed_over >= 12, "{} handed over", r.handed_over);
        states += common::every_cut_state(&r.device, seed, 0xBEEF, |disk, cut, what| {
            check(&r, disk, cut, what)
        });
    }
    println!("{states} crash states checked");
    assert!(states > 300, "{states}");
}

#[test]
fn handover_refuses_what_does_not_fit_and_sends_it_instead() {
    let server = common::service(4096);
    let mut holder = BlockClient::connect_over(common::Badged {
        server: &server,
        badge: 1,
    })
    .unwrap();
    holder.set_delegate(Some(2));
    let mut delegate = BlockClient::connect_over(common::Badged {
        server: &server,
        badge: 2,
    })
    .unwrap();
    holder.begin().unwrap();
    let e = delegate.allocate(3).unwrap();
    for b in 0..3 {
        delegate.write(e.start + b, &image(b, 1)).unwrap();
    }
    assert!(delegate.handover(2).is_none(), "three images, room for two");
    delegate.send_gathered().unwrap();
    assert_eq!(
        delegate.counters().write,
        1,
        "the three images in one call (the allocation told the transaction)"
    );
    holder.commit(Durability::Durable).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    for b in 0..3 {
        holder.read(e.start + b, &mut buf).unwrap();
        assert!(buf == image(b, 1), "block {b} was sent and committed");
    }
}
