//! Crash simulation with the block layer's recording device: a workload of
//! streaming puts over several transactions (new data, shared data,
//! duplicates), the start of a GC and a sweep in small steps, then more
//! puts. The power is cut at every flush and at sampled points between,
//! with unflushed writes dropped, kept, reordered and torn. Every crash
//! image must mount and show exactly one committed state of the content
//! store, at least as new as the last Durable commit that returned; the
//! index must hold that state's chunks, every chunk must verify, and the
//! allocated blocks must be exactly the store's (no leak, no dangling).

mod common;

use std::collections::BTreeSet;
use std::ops::Bound;

use block::{BlockStore, Durability, MemDevice, Transactional};
use content::{
    ChunkMarks, ChunkRef, ChunkWriter, ContentRoot, ContentStore, LayoutBuf, PutError, Sweep,
};
use testkit::{crash_image, record_from, CutMode, Cuts, RecordingDevice};

/// A committed state: the root bytes and the chunk hashes in the index.
struct State {
    root: [u8; ContentRoot::ENCODED_LEN],
    chunks: BTreeSet<Vec<u8>>,
}

fn index_keys<T: Transactional>(tx: &mut T, store: &ContentStore) -> BTreeSet<Vec<u8>> {
    cowbtree::range(tx, &store.root().index, Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect()
}

struct Run {
    tx: BlockStore<RecordingDevice>,
    store: ContentStore,
    states: Vec<State>,
    /// For each Durable commit that returned: (ops issued so far, state index).
    acks: Vec<(usize, usize)>,
}

impl Run {
    fn commit(&mut self, durability: Durability) {
        common::save_root(&mut self.tx, &self.store);
        self.tx.commit(durability).unwrap();
        let chunks = index_keys(&mut self.tx, &self.store);
        self.states.push(State {
            root: self.store.encode_root(),
            chunks,
        });
        if durability == Durability::Durable {
            self.acks
                .push((self.tx.device().ops().len(), self.states.len() - 1));
        }
    }

    /// Streams `data` in pieces of 50 000 bytes, one transaction per two
    /// pieces, alternating Batched and Durable commits; `Feed::LaidOut`: as
    /// the service does (`write_with`: each piece's new chunks in one
    /// extent, written in one run); `Feed::Held`: as it does with a long
    /// piece (`take_with`: held and hashed after the call, stored by the
    /// next one, so commits fall while a piece is held: crash case 5).
    fn put(&mut self, data: &[u8], feed: Feed) -> Vec<ChunkRef> {
        let mut refs = Vec::new();
        let mut w = ChunkWriter::new();
        let mut layout = LayoutBuf::new();
        self.tx.begin().unwrap();
        for (i, piece) in data.chunks(50_000).enumerate() {
            if feed == Feed::Held {
                let (_, buf) = w
                    .settle(&mut self.store, &mut self.tx, &mut |r| refs.push(r))
                    .unwrap();
                w.take_with::<_, PutError>(
                    &mut self.store,
                    &mut self.tx,
                    buf.unwrap_or_default(),
                    piece.len(),
                    |off, into| {
                        into.copy_from_slice(&piece[off..off + into.len()]);
                        Ok(())
                    },
                    |r| refs.push(r),
                )
                .unwrap();
            } else if feed == Feed::LaidOut {
                w.write_with::<_, PutError>(
                    &mut self.store,
                    &mut self.tx,
                    &mut layout,
                    piece.len(),
                    |off, into| {
                        into.copy_from_slice(&piece[off..off + into.len()]);
                        Ok(())
                    },
                    |r| refs.push(r),
                )
                .unwrap();
            } else {
                w.write(&mut self.store, &mut self.tx, piece, |r| refs.push(r))
                    .unwrap();
            }
            if i % 2 == 1 {
                self.commit(if i % 4 == 1 {
                    Durability::Batched
                } else {
                    Durability::Durable
                });
                // The service hashes a held piece after its answer.
                w.hash_held();
                self.tx.begin().unwrap();
            }
        }
        w.finish(&mut self.store, &mut self.tx, |r| refs.push(r))
            .unwrap();
        self.commit(Durability::Durable);
        refs
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    Plain,
    LaidOut,
    Held,
}

fn run_workload() -> (Run, Vec<u8>) {
    let (tx, store) = common::new_store(4096);
    let base = tx.unmount().unwrap().into_image();
    let tx = record_from(base.clone(), common::config());
    let mut run = Run {
        tx,
        store,
        states: Vec::new(),
        acks: Vec::new(),
    };
    // State 0: as formatted (the store created and committed).
    let chunks = index_keys(&mut run.tx, &run.store);
    run.states.push(State {
        root: run.store.encode_root(),
        chunks,
    });
    run.acks.push((0, 0));

    let a = common::noise(400_000, 1);
    let mut b = a[..200_000].to_vec();
    b.extend_from_slice(&common::noise(150_000, 2));
    let a_refs = run.put(&a, Feed::Plain);
    let b_refs = run.put(&b, Feed::LaidOut);
    run.put(&a, Feed::LaidOut); // all duplicates: no new chunk

    // GC keeping only B: A's own chunks go, in steps of 2 entries.
    run.tx.begin().unwrap();
    let epoch = run.store.begin_gc().unwrap();
    run.commit(Durability::Durable);
    let mut marks = ChunkMarks::new(run.tx.block_count());
    for r in &b_refs {
        run.store.mark(&mut run.tx, r, &mut marks).unwrap();
    }
    let mut sweep = Sweep::new(epoch);
    let mut step = 0;
    while !sweep.is_done() {
        run.tx.begin().unwrap();
        run.store
            .sweep_step(&mut run.tx, &marks, &mut sweep, 2)
            .unwrap();
        run.commit(if step % 2 == 0 {
            Durability::Batched
        } else {
            Durability::Durable
        });
        step += 1;
    }
    run.tx.sync().unwrap();
    let b_set: BTreeSet<_> = b_refs.iter().map(|r| r.hash).collect();
    assert_eq!(
        sweep.report.chunks as usize,
        a_refs.iter().filter(|r| !b_set.contains(&r.hash)).count()
    );
    // Held pieces (crash case 5): new chunks, then B's again (kept by the
    // collection: duplicates).
    let mut c = common::noise(300_000, 3);
    c.extend_from_slice(&b[..150_000]);
    let c_refs = run.put(&c, Feed::Held);
    assert_eq!(
        c_refs.iter().map(|r| u64::from(r.len)).sum::<u64>(),
        c.len() as u64
    );
    (run, base)
}

fn verify_image(run: &Run, image: Vec<u8>, cut: usize, what: &str) {
    let mut tx = BlockStore::mount(MemDevice::from_image(image), common::config())
        .unwrap_or_else(|e| panic!("{what}: mount failed: {e:?}"));
    let store = common::load_root(&mut tx);
    let root = store.encode_root();
    let found = run.states.iter().position(|s| s.root == root);
    let Some(j) = found else {
        panic!("{what}: the root matches no committed state")
    };
    let must = run
        .acks
        .iter()
        .filter(|(pos, _)| *pos <= cut)
        .map(|&(_, s)| s)
        .max()
        .unwrap_or(0);
    // Identical roots can repeat (a commit that changed nothing); any of
    // them at or after the last acknowledged state will do.
    let newest_equal = run.states.iter().rposition(|s| s.root == root).unwrap_or(j);
    assert!(
        newest_equal >= must,
        "{what}: recovered state {j} is older than acknowledged state {must}"
    );
    assert_eq!(
        index_keys(&mut tx, &store),
        run.states[j].chunks,
        "{what}: index differs from state {j}"
    );
    let report = store.check(&mut tx, true);
    assert!(
        report.is_clean(),
        "{what}: {:?} {:?}",
        report.tree.problems,
        report.problems
    );
    // Allocated data blocks are exactly the store's blocks.
    let mut owned = BTreeSet::new();
    store
        .visit_blocks(&mut tx, |e| {
            for b in e.start..e.end() {
                owned.insert(b);
            }
        })
        .unwrap();
    let data_start = tx.geometry().data_start;
    let allocated: BTreeSet<u64> = (data_start..tx.block_count())
        .filter(|&b| tx.is_allocated(b).unwrap())
        .collect();
    let owned_data: BTreeSet<u64> = owned.into_iter().filter(|&b| b >= data_start).collect();
    assert_eq!(
        allocated, owned_data,
        "{what}: allocated blocks differ from the store's"
    );
}

#[test]
fn every_crash_state_is_a_committed_state() {
    let (run, _base) = run_workload();
    let dev = run.tx.device();
    let ops = dev.ops().len();
    let cuts = Cuts::at_flushes(dev).every_nth(ops / 60).to_vec();
    let mut checked = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
            let image = crash_image(dev, cut, mode, i as u64 * 31 + 7);
            verify_image(
                &run,
                image,
                cut,
                &format!("cut {cut}/{ops} {mode:?} seed {}", i as u64 * 31 + 7),
            );
            checked += 1;
        }
    }
    println!("crash states checked: {checked}");
    assert!(checked >= 100, "only {checked} crash states");
}
