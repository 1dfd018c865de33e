//! Group commit across power cuts: groups of operations (blob puts with
//! their repository link, new files, an overwrite of one shared file) each
//! commit batched on its own and are made durable by one sync, as the fs
//! service does before it sends the group's replies. Cut at every flush,
//! just before flushes (records in flight) and sampled points between,
//! with unflushed writes dropped, kept, or reordered and torn. After
//! recovery: every operation whose group's sync returned (its reply was
//! sent) is there; every operation is all or nothing; and what is there
//! is exactly some prefix of the operations (commits become durable in
//! order); fsck is clean.
//!
//! The same again with each group closed by its last operation's own
//! commit, made durable (the fs service does that when nothing else is
//! queued: `Fs::set_group_closing`), instead of a sync: its replies are
//! sent when that operation returns.

mod common;

use block::{BlockStore, MemDevice};
use common::{crash_config, noise, sha256};
use filesystem::{fsck_blocks, layout, Digest, Fs, Registry, RepoName};
use testkit::{crash_image, CutMode, Cuts, RecordingDevice, SplitMix};

const BLOCKS: u64 = 4096;
const GROUPS: u64 = 5;
const PER_GROUP: u64 = 6;
const SHARED: &str = "/group/shared";

enum Op {
    Blob(Vec<u8>),
    File(String, Vec<u8>),
}

/// The `i`-th operation: blobs of 4 KiB and up, small files, and every
/// third one an overwrite of `SHARED`.
fn op(i: u64) -> Op {
    match i % 3 {
        0 => Op::Blob(noise(0xB10B + i, 4096 + (i as usize % 4) * 3000)),
        1 => Op::File(
            format!("/group/f{i}"),
            noise(0xF11E + i, 100 + i as usize * 37),
        ),
        _ => Op::File(
            SHARED.to_string(),
            noise(0x5A4E + i, 2000 + i as usize * 11),
        ),
    }
}

fn repo() -> RepoName {
    RepoName::parse("group/blobs").unwrap()
}

fn link_path(d: &Digest) -> String {
    layout::layer_link(&repo(), d)
}

struct Run {
    device: RecordingDevice,
    /// Recorded ops issued when each group's sync returned.
    synced_at: Vec<usize>,
}

/// How each group closes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    /// One sync after its operations.
    Sync,
    /// Its last operation's commit is durable.
    LastCommit,
}

fn run_groups(close: Close) -> Run {
    let mut reg = Registry::new(common::recording_fs(BLOCKS));
    reg.fs().set_group_commit(true);
    let mut synced_at = Vec::new();
    let mut i = 0;
    for _ in 0..GROUPS {
        for n in 0..PER_GROUP {
            let last = n + 1 == PER_GROUP;
            reg.fs()
                .set_group_closing(close == Close::LastCommit && last);
            match op(i) {
                Op::Blob(data) => {
                    let d = sha256(&data);
                    reg.put_blob_into(&d, &mut &data[..], Some(&repo()))
                        .unwrap();
                }
                Op::File(path, data) => {
                    reg.fs().write_file(&path, &data).unwrap();
                }
            }
            reg.fs().set_group_closing(false);
            i += 1;
        }
        match close {
            Close::Sync => {
                assert_eq!(reg.fs().unsynced_operations(), PER_GROUP);
                reg.fs().sync().unwrap();
            }
            // Nothing owed: every batched commit of the group is durable
            // with the last one.
            Close::LastCommit => assert_eq!(reg.fs().unsynced_operations(), 0),
        }
        synced_at.push(reg.fs().device_mut().device().ops().len());
    }
    Run {
        device: reg.into_fs().into_device().into_device(),
        synced_at,
    }
}

/// What each operation's traces look like in a recovered store:
/// `Some(true)` all there, `Some(false)` no trace; `None`: partly there,
/// or bytes that no operation wrote.
fn observed(fs: &mut Fs<BlockStore<MemDevice>>, ctx: &str) -> Vec<Option<bool>> {
    let shared_seen = match fs.read_file(SHARED, 1 << 20) {
        Ok(v) => Some(v),
        Err(filesystem::FsError::NotFound { .. }) => None,
        Err(e) => panic!("{ctx}: read {SHARED}: {e}"),
    };
    let mut out = Vec::new();
    // The shared file's content names the last overwrite in the prefix:
    // that one counts as there, earlier ones as superseded (there too).
    let last_shared = (0..GROUPS * PER_GROUP).rfind(|i| match op(*i) {
        Op::File(p, data) => p == SHARED && shared_seen.as_deref() == Some(&data[..]),
        Op::Blob(_) => false,
    });
    if shared_seen.is_some() && last_shared.is_none() {
        panic!("{ctx}: {SHARED} holds bytes no operation wrote");
    }
    for i in 0..GROUPS * PER_GROUP {
        let state = match op(i) {
            Op::Blob(data) => {
                let d = sha256(&data);
                let blob = fs.read_file(&layout::blob_data(&d), 1 << 20).ok();
                let link = fs.exists(&link_path(&d)).unwrap();
                match (blob, link) {
                    (Some(b), true) if b == data => Some(true),
                    (None, false) => Some(false),
                    _ => None,
                }
            }
            Op::File(path, _) if path == SHARED => Some(last_shared.is_some_and(|l| i <= l)),
            Op::File(path, data) => match fs.read_file(&path, 1 << 20) {
                Ok(got) if got == data => Some(true),
                Err(filesystem::FsError::NotFound { .. }) => Some(false),
                _ => None,
            },
        };
        out.push(state);
    }
    out
}

#[test]
fn replied_group_operations_survive_every_cut_all_or_nothing_in_order() {
    check_cuts(run_groups(Close::Sync));
}

#[test]
fn groups_closed_by_a_durable_last_commit_survive_every_cut_all_or_nothing_in_order() {
    let by_sync = run_groups(Close::Sync);
    let by_commit = run_groups(Close::LastCommit);
    // No more flushes than a sync per group.
    assert!(
        by_commit.device.flush_points().len() <= by_sync.device.flush_points().len(),
        "{} flushes, {} with syncs",
        by_commit.device.flush_points().len(),
        by_sync.device.flush_points().len()
    );
    check_cuts(by_commit);
}

fn check_cuts(run: Run) {
    let cuts = Cuts::at_flushes(&run.device)
        .before_flushes(1)
        .before_flushes(3)
        .random(40, &mut SplitMix(0x6C))
        .to_vec();
    let mut prefixes = std::collections::BTreeSet::new();
    for &cut in &cuts {
        let replied = run.synced_at.iter().filter(|&&at| at <= cut).count() as u64 * PER_GROUP;
        for (mode, seed) in [
            (CutMode::DropAll, 0),
            (CutMode::KeepAll, 0),
            (CutMode::Random, cut as u64),
        ] {
            let ctx = format!("cut {cut} {mode:?} seed {seed}");
            let image = crash_image(&run.device, cut, mode, seed);
            let store = BlockStore::mount(MemDevice::from_image(image), crash_config())
                .unwrap_or_else(|e| panic!("{ctx}: mount: {e:?}"));
            let mut fs = Fs::open(store, 0).unwrap_or_else(|e| panic!("{ctx}: fs: {e}"));
            let seen = observed(&mut fs, &ctx);
            // All or nothing, each operation.
            let Some(seen) = seen.iter().copied().collect::<Option<Vec<bool>>>() else {
                panic!("{ctx}: an operation is partly there: {seen:?}");
            };
            // A prefix of the operations.
            let k = seen.iter().take_while(|&&s| s).count();
            assert!(
                seen[k..].iter().all(|&s| !s),
                "{ctx}: not a prefix: {seen:?}"
            );
            // Every replied operation.
            assert!(
                k as u64 >= replied,
                "{ctx}: {k} operations recovered, {replied} were replied to"
            );
            prefixes.insert(k);
            let report = fsck_blocks(&mut fs, true).unwrap_or_else(|e| panic!("{ctx}: fsck: {e}"));
            assert!(report.is_clean(), "{ctx}: fsck: {:?}", report.problems);
        }
    }
    // The cuts reached inside groups, not only their ends. What a cut
    // inside a group recovers is mostly a whole number of groups: the
    // block store journals a group's batched commits together, as one
    // compound transaction (block/lib/src/store/compound.rs), written
    // before the group's end only at its group bound or a checkpoint.
    let inside = cuts.iter().filter(|c| !run.synced_at.contains(c)).count();
    assert!(
        inside * 2 > cuts.len(),
        "{inside} of {} cuts inside groups",
        cuts.len()
    );
    assert!(prefixes.len() > GROUPS as usize, "{prefixes:?}");
}
