//! A resumable upload session (the registry HTTP service's chunked upload)
//! across power cuts: every byte an append acknowledged is there after
//! recovery, the session resumes from the size it reports, and finishing it
//! stores a blob that verifies. Cut at every flush point and sampled points
//! between, with unflushed writes dropped, kept or torn.

mod common;

use block::{BlockStore, MemDevice};
use common::{crash_config, noise};
use filesystem::{fsck_blocks, Algorithm, Fs, Registry, RepoName};
use testkit::{crash_image, CutMode, Cuts, RecordingDevice, SplitMix};

const BLOCKS: u64 = 4096;

/// The bytes of the whole blob and the pieces the client sends.
fn blob() -> Vec<u8> {
    noise(7, 300_000)
}
const PIECES: [usize; 4] = [70_000, 1, 129_999, 100_000];

struct Run {
    device: RecordingDevice,
    id: u64,
    /// (operation count when the append returned, bytes acknowledged).
    acks: Vec<(usize, u64)>,
}

fn run_uploads() -> Run {
    let mut reg = Registry::new(common::recording_fs(BLOCKS));
    let repo = RepoName::parse("app/web").unwrap();
    let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
    let id = filesystem::parse_upload_id(up.id()).unwrap();
    let data = blob();
    let mut acks = vec![(reg.fs().device_mut().device().ops().len(), 0)];
    let mut off = 0usize;
    for n in PIECES {
        let size = reg
            .append_durable(&mut up, off as u64, &data[off..off + n])
            .unwrap();
        off += n;
        assert_eq!(size, off as u64);
        acks.push((reg.fs().device_mut().device().ops().len(), size));
    }
    Run {
        device: reg.into_fs().into_device().into_device(),
        id,
        acks,
    }
}

#[test]
fn acknowledged_upload_bytes_survive_every_cut_and_the_session_resumes() {
    let run = run_uploads();
    let data = blob();
    let repo = RepoName::parse("app/web").unwrap();
    let cuts = Cuts::at_flushes(&run.device)
        .random(24, &mut SplitMix(11))
        .to_vec();
    let mut checked = 0;
    for &cut in &cuts {
        // The cut may fall before the session itself was durable.
        let acked = run
            .acks
            .iter()
            .filter(|(at, _)| *at <= cut)
            .map(|(_, size)| *size)
            .max();
        for (mode, seed) in [(CutMode::DropAll, 0), (CutMode::Random, cut as u64)] {
            let ctx = format!("cut {cut} {mode:?} seed {seed}");
            let image = crash_image(&run.device, cut, mode, seed);
            let store = BlockStore::mount(MemDevice::from_image(image), crash_config())
                .unwrap_or_else(|e| panic!("{ctx}: mount: {e:?}"));
            let mut reg = Registry::new(Fs::open(store, 0).unwrap());
            // A client resending from a stale offset is told the real
            // size; from there the blob finishes and verifies.
            if !common::resume_and_finish(&mut reg, &repo, run.id, acked, &data, &ctx) {
                continue;
            }
            let report = fsck_blocks(reg.fs(), true).unwrap();
            assert!(report.is_clean(), "{ctx}: fsck: {:?}", report.problems);
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} states reached a session");
}

#[test]
fn resuming_an_unknown_session_is_a_clear_error() {
    let mut reg = common::fresh_registry(8192);
    let repo = RepoName::parse("app").unwrap();
    let e = reg
        .resume_upload(&repo, 0xdead, Algorithm::Sha256)
        .err()
        .expect("no such session");
    assert!(e.to_string().contains("000000000000dead"), "{e}");
}
