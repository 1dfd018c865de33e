//! Shared harness of the crash tests: a seeded random workload of
//! transactions run against the recording device, a model of the state after
//! every commit, and the check of a crash image against that model.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use std::sync::atomic::{AtomicBool, Ordering};
use testkit::{crash_image, record_from, CutMode, Cuts, RecordingDevice, SplitMix};

use block::{
    BlockStore, Config, Durability, Error, Extent, FormatOptions, MemDevice, Transactional,
    BLOCK_SIZE, ROOT_SLOTS,
};

/// Whether workloads format with data checksums (each test binary sets its own).
pub static DATA_CHECKSUMS: AtomicBool = AtomicBool::new(false);

pub const DEVICE_BLOCKS: u64 = 96;

pub fn config() -> Config {
    // A tiny journal and cache so workloads wrap the log, checkpoint and evict.
    Config {
        cache_blocks: 16,
        journal_blocks: 24,
        group_commit_blocks: 8,
    }
}

/// Block contents that name their writer: `tag` in the first 8 bytes, the
/// rest derived from it. Tag 0 is the all-zero block.
pub fn fill(tag: u64) -> Vec<u8> {
    if tag == 0 {
        return vec![0; BLOCK_SIZE];
    }
    let mut b: Vec<u8> = (0..BLOCK_SIZE)
        .map(|i| (tag.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64 * 7) >> 3) as u8)
        .collect();
    b[..8].copy_from_slice(&tag.to_le_bytes());
    b
}

/// The committed state the model expects.
#[derive(Clone, Default, Debug)]
pub struct State {
    /// Data blocks allocated by the workload.
    pub allocated: BTreeSet<u64>,
    /// Expected contents (tag) of blocks whose contents are defined.
    pub content: BTreeMap<u64, u64>,
}

/// When a commit (or sync) happened, in recorded-op indices.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// The state index it produced (or made durable, for a sync).
    pub state: usize,
    pub start_op: usize,
    pub end_op: usize,
    pub durable: bool,
}

pub struct Workload {
    pub seed: u64,
    pub base: Vec<u8>,
    pub device: RecordingDevice,
    pub states: Vec<State>,
    pub points: Vec<Point>,
    /// Every block the workload ever touched (plus the roots).
    pub universe: BTreeSet<u64>,
}

/// Formats a device, then runs `txns` random transactions recorded from the mount on.
pub fn run_workload(seed: u64, txns: usize) -> Workload {
    let options = FormatOptions {
        data_checksums: DATA_CHECKSUMS.load(Ordering::Relaxed),
    };
    let formatted =
        BlockStore::format_with(MemDevice::new(DEVICE_BLOCKS), config(), options).unwrap();
    let roots = formatted.geometry().roots;
    let base = formatted.into_device().into_image();
    let mut start = State::default();
    for slot in 0..ROOTS_USED as u64 {
        start.content.insert(roots.start + slot, 0);
    }
    run_workload_from(seed, base, start, txns)
}

/// Root slots the workloads write.
pub const ROOTS_USED: usize = 4;

/// Runs `txns` random transactions on `base` (which may need recovery),
/// whose committed state is `start`, recording from the mount on.
pub fn run_workload_from(seed: u64, base: Vec<u8>, start: State, txns: usize) -> Workload {
    let mut store = record_from(base.clone(), config());
    let roots: Vec<u64> = (0..ROOT_SLOTS.min(ROOTS_USED))
        .map(|i| store.root_block(i))
        .collect();
    let mut rng = SplitMix(seed);
    let mut state = start;
    let mut states = vec![state.clone()];
    let mut points = Vec::new();
    let mut universe: BTreeSet<u64> = roots.iter().copied().collect();
    universe.extend(state.allocated.iter().copied());

    for t in 0..txns {
        let tag_base = ((seed & 0xFFFF) << 48) | ((t as u64 + 1) << 24);
        let mut next = state.clone();
        store.begin().unwrap();
        let mut ok = true;
        let mut fresh_here: BTreeSet<u64> = BTreeSet::new();
        let mut freed_here: BTreeSet<u64> = BTreeSet::new();
        for _ in 0..1 + rng.below(5) {
            match rng.below(5) {
                0 | 1 => {
                    let len = 1 + rng.below(4);
                    match store.allocate(len) {
                        Ok(e) => {
                            for b in e.start..e.end() {
                                assert!(
                                    !next.allocated.contains(&b),
                                    "seed {seed}: block {b} handed out twice"
                                );
                                next.allocated.insert(b);
                                next.content.remove(&b);
                                fresh_here.insert(b);
                                universe.insert(b);
                            }
                            if rng.below(2) == 0 {
                                let data: Vec<u8> = (e.start..e.end())
                                    .flat_map(|b| fill(tag_base | b))
                                    .collect();
                                store.write_fresh(e.start, &data).unwrap();
                            } else {
                                for b in e.start..e.end() {
                                    store.write(b, &fill(tag_base | b)).unwrap();
                                }
                            }
                            for b in e.start..e.end() {
                                next.content.insert(b, tag_base | b);
                            }
                        }
                        Err(Error::NoSpace) => ok = false,
                        Err(e) => panic!("seed {seed}: allocate failed: {e}"),
                    }
                }
                2 => {
                    let live: Vec<u64> = next.allocated.iter().copied().collect();
                    if !live.is_empty() {
                        let b = live[rng.below(live.len() as u64) as usize];
                        store.write(b, &fill(tag_base | b)).unwrap();
                        next.content.insert(b, tag_base | b);
                    }
                }
                3 => {
                    let live: Vec<u64> = next
                        .allocated
                        .iter()
                        .copied()
                        .filter(|b| !fresh_here.contains(b))
                        .collect();
                    if !live.is_empty() {
                        let b = live[rng.below(live.len() as u64) as usize];
                        store.free(Extent::new(b, 1)).unwrap();
                        next.allocated.remove(&b);
                        next.content.remove(&b);
                        freed_here.insert(b);
                    }
                }
                _ => {
                    let r = roots[rng.below(roots.len() as u64) as usize];
                    store.write(r, &fill(tag_base | r)).unwrap();
                    next.content.insert(r, tag_base | r);
                }
            }
        }
        if !ok || rng.below(10) == 0 {
            store.abort();
            continue;
        }
        let durable = rng.below(2) == 0;
        let start_op = store_ops(&store);
        store
            .commit(if durable {
                Durability::Durable
            } else {
                Durability::Batched
            })
            .unwrap();
        let end_op = store_ops(&store);
        state = next;
        states.push(state.clone());
        points.push(Point {
            state: states.len() - 1,
            start_op,
            end_op,
            durable,
        });
        if rng.below(8) == 0 {
            let start_op = store_ops(&store);
            store.sync().unwrap();
            points.push(Point {
                state: states.len() - 1,
                start_op,
                end_op: store_ops(&store),
                durable: true,
            });
        }
    }
    let device = store.into_device();
    Workload {
        seed,
        base,
        device,
        states,
        points,
        universe,
    }
}

fn store_ops(store: &BlockStore<RecordingDevice>) -> usize {
    store.device().ops().len()
}

impl Workload {
    /// The range of states a crash after `cut` recorded ops may show.
    pub fn allowed_states(&self, cut: usize) -> (usize, usize) {
        let min = self
            .points
            .iter()
            .filter(|p| p.durable && p.end_op <= cut)
            .map(|p| p.state)
            .max()
            .unwrap_or(0);
        let max = self
            .points
            .iter()
            .filter(|p| p.start_op < cut)
            .map(|p| p.state)
            .max()
            .unwrap_or(0);
        (min, max.max(min))
    }

    /// Mounts `image` and checks it shows one whole state in the allowed
    /// range and that fsck is clean. Returns the state index seen.
    pub fn check_image(&self, image: Vec<u8>, cut: usize) -> Result<usize, String> {
        self.check_image_with(image, cut, false)
    }

    /// `check_image`; with `journal_repairs`, fsck findings of repaired
    /// journal blocks (damage the test put there) are expected, not errors.
    pub fn check_image_with(
        &self,
        image: Vec<u8>,
        cut: usize,
        journal_repairs: bool,
    ) -> Result<usize, String> {
        let (min, max) = self.allowed_states(cut);
        let mut store = BlockStore::mount(MemDevice::from_image(image), config())
            .map_err(|e| format!("mount failed: {e}"))?;
        let mut seen = None;
        let mut last_mismatch = String::new();
        for j in (min..=max).rev() {
            match self.matches(&mut store, &self.states[j]) {
                Ok(()) => {
                    seen = Some(j);
                    break;
                }
                Err(why) => last_mismatch.push_str(&format!("state {j}: {why}; ")),
            }
        }
        let Some(j) = seen else {
            return Err(format!(
                "shows no whole state in {min}..={max}; {last_mismatch}"
            ));
        };
        let mut fsck = store.fsck().map_err(|e| format!("fsck failed: {e}"))?;
        for b in &self.states[j].allocated {
            fsck.mark_used(Extent::new(*b, 1), "the workload");
        }
        let report = fsck.finish();
        let unexpected = report.findings().iter().any(|f| {
            !(journal_repairs
                && f.kind == block::FindingKind::Journal
                && f.message.contains("nothing was lost"))
        });
        if unexpected {
            return Err(format!("fsck of state {j}: {report}"));
        }
        Ok(j)
    }

    fn matches(&self, store: &mut BlockStore<MemDevice>, state: &State) -> Result<(), String> {
        let mut buf = vec![0u8; BLOCK_SIZE];
        for &b in &self.universe {
            let is_root = store.geometry().roots.contains(b);
            if !is_root {
                let a = store.is_allocated(b).map_err(|e| e.to_string())?;
                if a != state.allocated.contains(&b) {
                    return Err(format!("block {b} allocated={a}"));
                }
            }
            if let Some(tag) = state.content.get(&b) {
                store.read(b, &mut buf).map_err(|e| e.to_string())?;
                if buf != fill(*tag) {
                    let found = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    return Err(format!("block {b} holds tag {found:#x}, expected {tag:#x}"));
                }
            }
        }
        Ok(())
    }
}

/// Checks crash states of one workload; returns how many were checked.
/// `every_cut`: every op index is a cut point (else flush points plus
/// `sample` random cuts). Each cut is tried with dropped, kept and
/// `random_per_cut` random (reordered, torn) unflushed writes.
pub fn check_workload(
    w: &Workload,
    every_cut: bool,
    sample: usize,
    random_per_cut: usize,
) -> usize {
    let mut rng = SplitMix(w.seed ^ 0xC0FF_EE00);
    let cuts = if every_cut {
        Cuts::every(&w.device)
    } else {
        Cuts::at_flushes(&w.device).random(sample, &mut rng)
    };
    let n = cuts.ops();
    let mut checked = 0;
    for cut in cuts.to_vec() {
        let mut modes = vec![(CutMode::DropAll, 0u64)];
        if !cuts.is_flush_point(cut) {
            modes.push((CutMode::KeepAll, 0));
            for _ in 0..random_per_cut {
                modes.push((CutMode::Random, rng.next_u64()));
            }
        }
        for (mode, rseed) in modes {
            let image = crash_image(&w.device, cut, mode, rseed);
            if let Err(why) = w.check_image(image, cut) {
                if std::env::var("CRASH_DEBUG").is_ok() {
                    for (i, op) in w.device.ops().iter().enumerate() {
                        match op {
                            block::crash::Op::Write { first, data } => {
                                eprintln!("op {i}: write {first} x{}", data.len() / BLOCK_SIZE)
                            }
                            block::crash::Op::Flush => eprintln!("op {i}: flush"),
                        }
                    }
                    eprintln!("points: {:?}", w.points);
                }
                panic!(
                    "crash state failed: workload seed {} cut {cut} of {n} mode {mode:?} random seed {rseed}: {why}",
                    w.seed
                );
            }
            checked += 1;
        }
    }
    checked
}
