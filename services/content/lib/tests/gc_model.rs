//! Reference model for dedup and GC: objects built from a small pool of
//! segments (so they share chunks, at shifted offsets too) are put, dropped
//! and collected in random order. After every collection the store holds
//! exactly the chunks of the objects still held, physical bytes equal the
//! sum of those distinct chunks, every held object reads back, and fsck is
//! clean.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use block::{Durability, Transactional};
use content::{ChunkMarks, ChunkRef, Sweep};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Put an object made of these segments (indices into the pool).
    Put(Vec<usize>),
    /// Drop the n-th held object (modulo the count).
    Drop(usize),
    /// Collect, sweeping this many entries per transaction.
    Gc(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(0usize..6, 1..4).prop_map(Op::Put),
        2 => any::<usize>().prop_map(Op::Drop),
        1 => (1usize..8).prop_map(Op::Gc),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_holds_exactly_the_live_chunks(ops in proptest::collection::vec(op(), 1..16)) {
        // Segments of various sizes; segment 5 is segment 0 shifted by 777 bytes.
        let mut pool: Vec<Vec<u8>> = (0..5).map(|i| common::noise(50_000 + i * 70_000, i as u64 + 10)).collect();
        let mut shifted = common::noise(777, 99);
        shifted.extend_from_slice(&pool[0]);
        pool.push(shifted);

        let (mut tx, mut store) = common::new_store(8192);
        let mut held: Vec<(Vec<u8>, Vec<ChunkRef>)> = Vec::new();
        for op in ops {
            match op {
                Op::Put(segments) => {
                    let data: Vec<u8> = segments.iter().flat_map(|&s| pool[s].iter().copied()).collect();
                    let refs = common::put(&mut tx, &mut store, &data, 64_000, 3);
                    held.push((data, refs));
                }
                Op::Drop(n) => {
                    if !held.is_empty() {
                        let i = n % held.len();
                        held.remove(i);
                    }
                }
                Op::Gc(step) => {
                    tx.begin().unwrap();
                    let epoch = store.begin_gc().unwrap();
                    common::save_root(&mut tx, &store);
                    tx.commit(Durability::Durable).unwrap();
                    let mut marks = ChunkMarks::new(tx.block_count());
                    for (_, refs) in &held {
                        for r in refs {
                            store.mark(&mut tx, r, &mut marks).unwrap();
                        }
                    }
                    let mut dry = Sweep::dry_run(&store);
                    let mut sweep = Sweep::new(epoch);
                    while !dry.is_done() {
                        store.sweep_step(&mut tx, &marks, &mut dry, step).unwrap();
                    }
                    while !sweep.is_done() {
                        tx.begin().unwrap();
                        store.sweep_step(&mut tx, &marks, &mut sweep, step).unwrap();
                        common::save_root(&mut tx, &store);
                        tx.commit(Durability::Batched).unwrap();
                    }
                    prop_assert_eq!(dry.report, sweep.report, "dry run and sweep disagree");
                    // Exactly the held objects' distinct chunks remain.
                    let live: BTreeMap<[u8; 32], u32> =
                        held.iter().flat_map(|(_, refs)| refs.iter().map(|r| (r.hash, r.len))).collect();
                    let stats = store.stats();
                    prop_assert_eq!(stats.chunks, live.len() as u64);
                    prop_assert_eq!(stats.chunk_bytes, live.values().map(|&l| u64::from(l)).sum::<u64>());
                    let mut in_index = BTreeSet::new();
                    for h in live.keys() {
                        prop_assert!(store.contains(&mut tx, h).unwrap());
                        in_index.insert(*h);
                    }
                    prop_assert_eq!(in_index.len() as u64, stats.chunks);
                }
            }
            for (data, refs) in &held {
                prop_assert_eq!(&common::get(&mut tx, &store, refs, 100_000), data);
            }
        }
        let report = store.check(&mut tx, true);
        prop_assert!(report.is_clean(), "{:?} {:?}", report.tree.problems, report.problems);
    }
}
