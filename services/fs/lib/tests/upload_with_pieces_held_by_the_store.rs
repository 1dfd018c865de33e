//! The filesystem against a content store that answers a long push before
//! storing it (`ChunkStore::holding_pieces`, as the content service does:
//! the references of a piece come with the writer's next call). An upload
//! streamed that way is whole at its finish, cut into the chunks of a
//! plain store; and across power cuts, with transactions committed while
//! a piece is held, every byte a sync acknowledged is there, the session
//! resumes and its blob verifies.

mod common;

use block::{BlockStore, Config, MemDevice};
use common::{crash_config, noise, sha256};
use filesystem::{fsck_blocks, layout, Algorithm, ChunkStore, Fs, Registry, RepoName};
use testkit::{crash_image, record_from, CutMode, Cuts, RecordingDevice, SplitMix};

const MIB: usize = 1 << 20;
/// Pieces held from this length on (the service's `DEFER_MIN`).
const HOLD_MIN: usize = 256 * 1024;

fn upload_chunks(reg: &mut Registry<BlockStore<MemDevice>>, data: &[u8]) -> Vec<content::ChunkRef> {
    let repo = RepoName::parse("app/web").unwrap();
    let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
    for p in data.chunks(MIB) {
        reg.upload_write(&mut up, p).unwrap();
    }
    let d = sha256(data);
    assert_eq!(reg.finish_upload(up, &d).unwrap(), data.len() as u64);
    let ino = reg.fs().stat(&layout::blob_data(&d)).unwrap().ino;
    reg.fs().file_chunks(ino).unwrap()
}

#[test]
fn an_upload_through_held_pieces_is_whole_at_finish_and_cut_as_a_plain_one() {
    let data = noise(21, 10 * MIB + 4321);
    let store = || BlockStore::format(MemDevice::new(16384), Config::default()).unwrap();
    let mut plain = Registry::new(Fs::open(store(), 0).unwrap());
    let mut held =
        Registry::new(Fs::open_with(store(), 0, ChunkStore::holding_pieces(HOLD_MIN)).unwrap());
    let want = upload_chunks(&mut plain, &data);
    let got = upload_chunks(&mut held, &data);
    assert_eq!(got, want);
    assert!(
        common::read_blob(&mut held, &sha256(&data)) == data,
        "the blob reads back"
    );
    let report = fsck_blocks(held.fs(), true).unwrap();
    assert!(report.is_clean(), "fsck: {:?}", report.problems);
}

/// Pieces of the session's appends; a sync after those marked. The
/// stream pushes a piece (1 MiB) at a time, so the step's last push must
/// be a long one for the store to hold it at the commit: the odd length
/// goes last (its 5-byte push is stored at once, in the sync).
const PIECES: [(usize, bool); 4] = [
    (2 * MIB, false),
    (2 * MIB, false),
    (2 * MIB, true),
    (MIB + 5, true),
];
const BLOCKS: u64 = 8192;

struct Run {
    device: RecordingDevice,
    id: u64,
    /// (operation count when the sync returned, bytes acknowledged).
    acks: Vec<(usize, u64)>,
}

fn blob() -> Vec<u8> {
    noise(22, PIECES.iter().map(|p| p.0).sum())
}

fn run_uploads() -> Run {
    let formatted = BlockStore::format(MemDevice::new(BLOCKS), crash_config()).unwrap();
    let holding = || ChunkStore::holding_pieces(HOLD_MIN);
    let image = Fs::open_with(formatted, 0, holding())
        .unwrap()
        .into_device()
        .unmount()
        .unwrap()
        .into_image();
    let fs = Fs::open_with(record_from(image, crash_config()), 0, holding()).unwrap();
    let mut reg = Registry::new(fs);
    let repo = RepoName::parse("app/web").unwrap();
    let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
    let id = filesystem::parse_upload_id(up.id()).unwrap();
    let data = blob();
    let mut acks = vec![(reg.fs().device_mut().device().ops().len(), 0)];
    let mut off = 0usize;
    for (n, sync) in PIECES {
        // A full step is stored (and committed) with the store holding its
        // last piece; the sync stores that piece and the unfinished chunk.
        reg.append_piece(&mut up, off as u64, &data[off..off + n])
            .unwrap();
        off += n;
        let path = layout::upload_data(Some(&repo), up.id());
        let stored = reg.fs().stat(&path).unwrap().size;
        if off > 4 * MIB {
            // The commit fell while the store held a piece: more than an
            // unfinished chunk is not stored yet.
            assert!(
                off as u64 - stored > content::MAX_CHUNK as u64,
                "{stored} of {off} bytes stored"
            );
        }
        if sync {
            reg.sync_upload(&mut up).unwrap();
            acks.push((reg.fs().device_mut().device().ops().len(), off as u64));
        }
    }
    Run {
        device: reg.into_fs().into_device().into_device(),
        id,
        acks,
    }
}

#[test]
fn power_cuts_while_a_piece_is_held_lose_only_unacknowledged_bytes() {
    let run = run_uploads();
    let data = blob();
    let repo = RepoName::parse("app/web").unwrap();
    let cuts = Cuts::at_flushes(&run.device)
        .random(12, &mut SplitMix(23))
        .to_vec();
    let mut checked = 0;
    for &cut in &cuts {
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
            let mut reg = Registry::new(
                Fs::open_with(store, 0, ChunkStore::holding_pieces(HOLD_MIN)).unwrap(),
            );
            let report = fsck_blocks(reg.fs(), true).unwrap();
            assert!(report.is_clean(), "{ctx}: fsck: {:?}", report.problems);
            if !common::resume_and_finish(&mut reg, &repo, run.id, acked, &data, &ctx) {
                continue;
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} states reached a session");
}
