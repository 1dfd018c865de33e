//! Crash case 9 of `journal.rs`, the running compound: batched commits
//! not yet written join one journal transaction, all or nothing. Rounds of
//! batched commits that rewrite the same blocks (plain and sealed images,
//! the root block every time, fresh data named from a root block, frees),
//! with aborted transactions between them, each round closed by a Durable
//! commit or now and then by a `sync`; the run is cut at every write and
//! flush, the unflushed writes dropped, kept, and lost, reordered and torn
//! at random. After recovery the store is exactly as after some prefix of
//! the commits that ends at a compound boundary (a Durable commit or a
//! sync: never between two batched commits of one compound), and never
//! before the last Durable commit or sync that returned before the cut.

use std::collections::BTreeSet;

use block::{
    sealed_image_crc, BlockStore, Config, Durability, Extent, MemDevice, Transactional, BLOCK_SIZE,
    SEAL_FIELD,
};
use testkit::{crash_image, record_from, CutMode, Cuts, RecordingDevice, SplitMix};

fn config() -> Config {
    // A journal that wraps (checkpoints after some Durable commits) yet
    // holds any round's compound, a cache that no round crowds, and a
    // group bound above any round: the compound is written only where the
    // test says, at a Durable commit or a sync (checked as it runs).
    Config {
        cache_blocks: 64,
        journal_blocks: 80,
        group_commit_blocks: 64,
    }
}

/// Data blocks the rounds rewrite.
const K: u64 = 6;
/// The writer of the aborted transactions' images (never recovered).
const ABORTED: u64 = u64::MAX;

/// Block `b`'s image as commit `t` wrote it, sealed for `b` as
/// `write_verified`'s contract says (bytes 4..8 the CRC-32C of `b` then
/// bytes 8..) or plain; `t` in bytes 8..16 either way.
fn image(b: u64, t: u64, sealed: bool) -> Vec<u8> {
    let mut v = testkit::noise(b.wrapping_mul(1_000_003) ^ t.wrapping_mul(7919), BLOCK_SIZE);
    v[8..16].copy_from_slice(&t.to_le_bytes());
    if sealed {
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        let mut msg = b.to_le_bytes().to_vec();
        msg.extend_from_slice(&v[8..]);
        v[SEAL_FIELD..SEAL_FIELD + 4].copy_from_slice(&crc.checksum(&msg).to_le_bytes());
        debug_assert_eq!(sealed_image_crc(b, &v), Some(crc.checksum(&v)));
    }
    v
}

/// Root block 0: the commit that last wrote it (every commit does).
fn marker(t: u64) -> Vec<u8> {
    let mut v = vec![0u8; BLOCK_SIZE];
    v[..8].copy_from_slice(&t.to_le_bytes());
    v
}

/// Root block 1: the fresh block `f` commit `t` wrote, or zeros.
fn pointer(fresh: Option<(u64, u64)>) -> Vec<u8> {
    let mut v = vec![0u8; BLOCK_SIZE];
    if let Some((f, t)) = fresh {
        v[..8].copy_from_slice(&f.to_le_bytes());
        v[8..16].copy_from_slice(&t.to_le_bytes());
    }
    v
}

/// What the store holds after a commit.
#[derive(Clone)]
struct State {
    /// Per data block: (the commit that last wrote it, sealed).
    data: Vec<(u64, bool)>,
    /// The fresh block root 1 names, and the commit that wrote it.
    fresh: Option<(u64, u64)>,
    /// Fresh blocks allocated (the data blocks always are).
    allocated: BTreeSet<u64>,
}

/// Where the compound was written and flushed: a Durable commit or a sync.
struct Boundary {
    /// The state it made durable (the commits through it).
    state: u64,
    start_op: usize,
    end_op: usize,
}

struct Run {
    device: RecordingDevice,
    first: u64,
    roots: [u64; 2],
    /// State after commit t (index t; 0 is the set-up).
    states: Vec<State>,
    boundaries: Vec<Boundary>,
    /// Every fresh block ever allocated.
    fresh_blocks: BTreeSet<u64>,
    /// Compounds a checkpoint closed at a batched commit.
    checkpoint_closes: u64,
}

fn ops(s: &BlockStore<RecordingDevice>) -> usize {
    s.device().ops().len()
}

fn run(seed: u64, rounds: usize) -> Run {
    let mut s = BlockStore::format(MemDevice::new(400), config()).unwrap();
    s.begin().unwrap();
    let first = s.allocate(K).unwrap().start;
    for b in first..first + K {
        s.write(b, &image(b, 0, false)).unwrap();
    }
    let roots = [s.root_block(0), s.root_block(1)];
    s.write(roots[0], &marker(0)).unwrap();
    s.commit(Durability::Durable).unwrap();
    let mut s = record_from(s.unmount().unwrap().into_image(), config());
    let mut rng = SplitMix(seed);
    let mut state = State {
        data: vec![(0, false); K as usize],
        fresh: None,
        allocated: BTreeSet::new(),
    };
    let mut states = vec![state.clone()];
    let mut boundaries = Vec::new();
    let mut fresh_blocks = BTreeSet::new();
    let mut t = 0u64;
    let mut checkpoint_closes = 0;
    for _ in 0..rounds {
        let batched = 2 + rng.below(4);
        for i in 0..=batched {
            let durable = i == batched;
            let (transactions, checkpoints) =
                (s.stats().journal_transactions, s.stats().checkpoints);
            if rng.below(4) == 0 {
                // An aborted transaction between the commits: none of it
                // is ever seen, and the compound keeps its images.
                s.begin().unwrap();
                let b = first + rng.below(K);
                s.write(b, &image(b, ABORTED, false)).unwrap();
                s.write(roots[0], &marker(ABORTED)).unwrap();
                let f = s.allocate(1).unwrap().start;
                s.write_fresh(f, &image(f, ABORTED, false)).unwrap();
                s.abort();
                let mut buf = vec![0u8; BLOCK_SIZE];
                s.read(b, &mut buf).unwrap();
                let (w, sealed) = state.data[(b - first) as usize];
                assert!(
                    buf == image(b, w, sealed),
                    "seed {seed}: abort undid a commit"
                );
            }
            t += 1;
            let mut next = state.clone();
            s.begin().unwrap();
            for _ in 0..1 + rng.below(4) {
                let k = rng.below(K);
                let sealed = rng.below(2) == 0;
                let img = image(first + k, t, sealed);
                if sealed {
                    s.write_verified(first + k, &img).unwrap();
                } else {
                    s.write(first + k, &img).unwrap();
                }
                next.data[k as usize] = (t, sealed);
            }
            if rng.below(3) == 0 {
                // New fresh data replaces the old, which this frees.
                if let Some((f, _)) = next.fresh {
                    s.free(Extent::new(f, 1)).unwrap();
                    next.allocated.remove(&f);
                }
                let f = s.allocate(1).unwrap().start;
                s.write_fresh(f, &image(f, t, false)).unwrap();
                next.allocated.insert(f);
                next.fresh = Some((f, t));
                fresh_blocks.insert(f);
                s.write(roots[1], &pointer(next.fresh)).unwrap();
            }
            s.write(roots[0], &marker(t)).unwrap();
            let start_op = ops(&s);
            s.commit(if durable {
                Durability::Durable
            } else {
                Durability::Batched
            })
            .unwrap();
            // Where this transaction closed a compound (journal transactions
            // written, each flushed at once here): a Durable commit after
            // joining it; a checkpoint before it joins (journal space, or
            // an allocation waiting for freed blocks: the commit's own
            // images are then left dirty) or after (the journal filling up
            // after a sync: nothing is left dirty).
            let st = s.stats();
            let written = st.journal_transactions - transactions;
            let after = durable || (written == 1 && st.cache_dirty_blocks == 0) || written == 2;
            let before = written == 2 || (written == 1 && !after);
            // Batched commits are written by nothing but a checkpoint.
            let by_checkpoint = written.checked_sub(u64::from(durable));
            assert!(
                written <= 2 && by_checkpoint.is_some_and(|n| n <= st.checkpoints - checkpoints),
                "seed {seed}: commit {t}: {written} transactions written: {st:?}"
            );
            checkpoint_closes += u64::from(!durable && written > 0);
            state = next;
            states.push(state.clone());
            let end_op = ops(&s);
            for (closed, at) in [(before, t - 1), (after, t)] {
                if closed {
                    boundaries.push(Boundary {
                        state: at,
                        start_op,
                        end_op,
                    });
                }
            }
            if !durable && rng.below(10) == 0 {
                let start_op = ops(&s);
                s.sync().unwrap();
                boundaries.push(Boundary {
                    state: t,
                    start_op,
                    end_op: ops(&s),
                });
            }
        }
    }
    assert!(
        s.stats().checkpoints > 0,
        "seed {seed}: the journal never wrapped"
    );
    Run {
        checkpoint_closes,
        device: s.into_device(),
        first,
        roots,
        states,
        boundaries,
        fresh_blocks,
    }
}

/// Mounts the disk after a cut and checks it holds exactly one boundary
/// state, not older than the last one made durable before the cut.
fn check(r: &Run, disk: Vec<u8>, cut: usize, what: &str) {
    let mut s = BlockStore::mount(MemDevice::from_image(disk), config())
        .unwrap_or_else(|e| panic!("{what}: mount: {e}"));
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(r.roots[0], &mut buf).unwrap();
    let t = u64::from_le_bytes(buf[..8].try_into().unwrap());
    assert!(buf == marker(t), "{what}: root 0 is no marker");
    let floor = r
        .boundaries
        .iter()
        .filter(|b| b.end_op <= cut)
        .map(|b| b.state)
        .max()
        .unwrap_or(0);
    let ceiling = r
        .boundaries
        .iter()
        .filter(|b| b.start_op < cut)
        .map(|b| b.state)
        .max()
        .unwrap_or(0);
    assert!(
        t == 0 || r.boundaries.iter().any(|b| b.state == t),
        "{what}: recovered commit {t}, inside a compound"
    );
    assert!(
        (floor..=ceiling).contains(&t),
        "{what}: recovered commit {t}, durable through {floor}, written through {ceiling}"
    );
    let state = &r.states[t as usize];
    for (k, &(w, sealed)) in state.data.iter().enumerate() {
        let b = r.first + k as u64;
        s.read(b, &mut buf).unwrap();
        assert!(
            buf == image(b, w, sealed),
            "{what}: commit {t}: block {b} is not commit {w}'s"
        );
    }
    s.read(r.roots[1], &mut buf).unwrap();
    assert!(buf == pointer(state.fresh), "{what}: commit {t}: root 1");
    if let Some((f, w)) = state.fresh {
        s.read(f, &mut buf).unwrap();
        assert!(
            buf == image(f, w, false),
            "{what}: commit {t}: fresh block {f} is not its data"
        );
    }
    for &f in &r.fresh_blocks {
        assert_eq!(
            s.is_allocated(f).unwrap(),
            state.allocated.contains(&f),
            "{what}: commit {t}: block {f}"
        );
    }
    let mut fsck = s.fsck().unwrap();
    fsck.mark_used(Extent::new(r.first, K), "the test");
    for &f in &state.allocated {
        fsck.mark_used(Extent::new(f, 1), "the test");
    }
    let report = fsck.finish();
    assert!(report.is_clean(), "{what}: commit {t}: {report}");
}

#[test]
fn compound_is_all_or_nothing_at_every_cut() {
    let (mut states, mut checkpoint_closes) = (0, 0);
    for seed in 1..=6u64 {
        let r = run(seed, 14);
        checkpoint_closes += r.checkpoint_closes;
        let cuts = Cuts::every(&r.device);
        for cut in cuts.to_vec() {
            for (mode, rseed) in [
                (CutMode::DropAll, 0),
                (CutMode::KeepAll, 0),
                (CutMode::Random, seed * 100_000 + cut as u64),
                (CutMode::Random, seed * 100_000 + cut as u64 + 50_000),
            ] {
                let what = format!("seed {seed}, cut {cut} of {}, {mode:?} {rseed}", cuts.ops());
                check(&r, crash_image(&r.device, cut, mode, rseed), cut, &what);
                states += 1;
            }
        }
    }
    println!("{states} crash states checked; {checkpoint_closes} compounds closed by a checkpoint at a batched commit");
    assert!(checkpoint_closes > 0, "no checkpoint closed a compound");
    assert!(states > 2000, "{states}");
}
