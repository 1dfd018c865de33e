//! Scenario: the power is cut at every recorded write and flush of three
//! put sessions — a multi-piece overwrite of a large file, a one-piece
//! overwrite of a small text (the shell's `write`), and a new file under
//! missing parents — with unflushed writes dropped, kept, or reordered and
//! torn. After recovery each file must hold entirely its old contents (or
//! be absent, if it was new) or entirely its new ones: old until the
//! finish's commit began, new once it returned. No staging file may be
//! left, and fsck (filesystem, content store, block layer) must be clean.
//!
//! The same check run over the old way of replacing a file (create or
//! truncate, then append pieces each committed on its own: what the shell
//! did) must find a partial file: the checker is not vacuous.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::noise;
use filesystem::{fsck_blocks, Fs};
use testkit::{crash_image, record_from, CutMode, RecordingDevice};

const BLOCKS: u64 = 3072;
/// The shell's piece size.
const PIECE: usize = 48 * 1024;

fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 512,
        // Small groups: batched pieces reach the disk often, so many cuts
        // land while a staging file is half written.
        group_commit_blocks: 4,
    }
}

type Rec = BlockStore<RecordingDevice>;

/// One replaced file: contents before and after, and the recorded ops
/// between which its replacement ran.
struct Target {
    path: &'static str,
    old: Option<Vec<u8>>,
    new: Vec<u8>,
    start: usize,
    end: usize,
}

struct Run {
    device: RecordingDevice,
    targets: Vec<Target>,
}

/// How a workload replaces a file's contents.
type Overwrite = fn(&mut Fs<Rec>, &str, &[u8]);

fn via_put_session(fs: &mut Fs<Rec>, path: &str, data: &[u8]) {
    let mut s = fs.put_begin(path).unwrap();
    for piece in data.chunks(PIECE) {
        fs.put_write(&mut s, piece).unwrap();
    }
    assert_eq!(fs.put_finish(s).unwrap(), data.len() as u64);
}

/// What the shell did before put sessions: `Create` (one transaction that
/// creates or empties the file), then one `Append` transaction per piece.
fn via_create_then_append(fs: &mut Fs<Rec>, path: &str, data: &[u8]) {
    fs.write_file(path, &[]).unwrap();
    let ino = fs.stat(path).unwrap().ino;
    for piece in data.chunks(PIECE) {
        fs.append(ino, piece).unwrap();
    }
}

fn ops(fs: &mut Fs<Rec>) -> usize {
    fs.device_mut().device().ops().len()
}

fn run(overwrite: Overwrite) -> Run {
    let formatted = BlockStore::format(MemDevice::new(BLOCKS), config()).unwrap();
    let mut fs = Fs::open(formatted, 0).unwrap();
    let big_old = noise(10, 300_000);
    let small_old = b"the acknowledged 183-byte content of a small text file".to_vec();
    fs.write_file("/d/big", &big_old).unwrap();
    fs.write_file("/d/small", &small_old).unwrap();
    let image = fs.into_device().unmount().unwrap().into_image();
    let mut fs = Fs::open(record_from(image, config()), 0).unwrap();
    let mut targets = vec![
        Target {
            path: "/d/big",
            old: Some(big_old),
            // Over one stream step (4 MiB): the put stores chunks before
            // its finish, so cuts land between its transactions too.
            new: noise(11, 4_400_000),
            start: 0,
            end: 0,
        },
        Target {
            path: "/d/small",
            old: Some(small_old),
            new: b"new text".to_vec(),
            start: 0,
            end: 0,
        },
        Target {
            path: "/new/a/file",
            old: None,
            new: noise(12, 100_000),
            start: 0,
            end: 0,
        },
    ];
    for t in &mut targets {
        t.start = ops(&mut fs);
        overwrite(&mut fs, t.path, &t.new);
        t.end = ops(&mut fs);
    }
    Run {
        device: fs.into_device().into_device(),
        targets,
    }
}

/// Checks one crash image; `Err` names the first violation, `Ok(true)`:
/// the mount found (and removed) a staging file of an unfinished put.
fn check(run: &Run, cut: usize, mode: CutMode, seed: u64) -> Result<bool, String> {
    let image = crash_image(&run.device, cut, mode, seed);
    let ctx = format!("cut {cut} mode {mode:?} seed {seed}");
    let store = BlockStore::mount(MemDevice::from_image(image), config())
        .map_err(|e| format!("{ctx}: block mount: {e:?}"))?;
    let mut fs = Fs::open(store, 0).map_err(|e| format!("{ctx}: fs mount: {e}"))?;
    let reaped = fs.events().any(|e| e.contains("staging file"));
    for t in &run.targets {
        let got = if fs.exists(t.path).unwrap() {
            Some(fs.read_file(t.path, u64::MAX).unwrap())
        } else {
            None
        };
        let is_old = got == t.old;
        let is_new = got.as_deref() == Some(&t.new[..]);
        let describe = || match &got {
            None => String::from("absent"),
            Some(b) => format!("{} bytes", b.len()),
        };
        if cut <= t.start && !is_old {
            return Err(format!(
                "{ctx}: {} is {} before its put began",
                t.path,
                describe()
            ));
        }
        if cut >= t.end && !is_new {
            return Err(format!(
                "{ctx}: {} is {} after its put was acknowledged",
                t.path,
                describe()
            ));
        }
        if !is_old && !is_new {
            return Err(format!(
                "{ctx}: {} is {}: neither its old ({:?} bytes) nor its new ({} bytes) contents",
                t.path,
                describe(),
                t.old.as_ref().map(Vec::len),
                t.new.len()
            ));
        }
    }
    let report = fsck_blocks(&mut fs, true).map_err(|e| format!("{ctx}: fsck: {e}"))?;
    if !report.is_clean() {
        return Err(format!("{ctx}: fsck: {:?}", report.problems));
    }
    Ok(reaped)
}

/// Every cut point with dropped, kept and `random` reordered/torn outcomes;
/// the first violation, or how many states were checked and how many of
/// them held a half-written staging file.
fn check_all(run: &Run, random: u64) -> Result<(usize, usize), String> {
    let n = run.device.ops().len();
    let mut checked = 0;
    let mut mid_put = 0;
    for cut in 0..=n {
        let mut modes = vec![(CutMode::DropAll, 0), (CutMode::KeepAll, 0)];
        modes.extend((0..random).map(|s| (CutMode::Random, cut as u64 * 16 + s)));
        for (mode, seed) in modes {
            mid_put += usize::from(check(run, cut, mode, seed)?);
            checked += 1;
        }
    }
    Ok((checked, mid_put))
}

#[test]
fn put_sessions_are_all_or_nothing_at_every_cut() {
    let run = run(via_put_session);
    // The overwrite spans many recorded writes: the cuts land inside it.
    let t = &run.targets[0];
    assert!(t.end - t.start >= 10, "only {} ops", t.end - t.start);
    match check_all(&run, 3) {
        Ok((checked, mid_put)) => {
            println!(
                "{checked} crash states checked over {} recorded ops, {mid_put} of them mid-put",
                run.device.ops().len()
            );
            // Many recovered states held a half-written staging file: the
            // cuts really landed inside the puts.
            assert!(mid_put >= 20, "only {mid_put} states mid-put");
        }
        Err(why) => panic!("{why}"),
    }
}

#[test]
fn the_old_create_then_append_path_is_caught() {
    let run = run(via_create_then_append);
    let why = check_all(&run, 1).expect_err("the old path left no partial file at any cut");
    println!("old path: {why}");
    assert!(why.contains("neither its old"), "{why}");
}
