//! Shared helpers of the integration tests.
// Each test binary uses a part of this module (a re-export counts as an import).
#![allow(dead_code, unused_imports)]

use block::{BlockStore, Config, MemDevice, Transactional};
use filesystem::{Algorithm, Digest, Fs, Kind, Registry, RepoName, SessionError};
pub use testkit::noise;

pub mod damage;
pub mod twisted;
use testkit::{record_from, RecordingDevice};

pub type Store = BlockStore<MemDevice>;

/// The block layer's configuration of the power-cut tests.
pub fn crash_config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 512,
        group_commit_blocks: 32,
    }
}

/// A filesystem formatted on `blocks` blocks (with [`crash_config`]),
/// then mounted on a recording device: every write and flush from the
/// mount on is recorded for the crash images.
pub fn recording_fs(blocks: u64) -> Fs<BlockStore<RecordingDevice>> {
    let formatted = BlockStore::format(MemDevice::new(blocks), crash_config()).unwrap();
    let image = Fs::open(formatted, 0)
        .unwrap()
        .into_device()
        .unmount()
        .unwrap()
        .into_image();
    Fs::open(record_from(image, crash_config()), 0).unwrap()
}

/// A fresh block store of `blocks` 4 KiB blocks with a filesystem on it.
pub fn fresh_fs(blocks: u64) -> Fs<Store> {
    let store = BlockStore::format(MemDevice::new(blocks), Config::default()).expect("format");
    Fs::open(store, 0).expect("mkfs")
}

pub fn fresh_registry(blocks: u64) -> Registry<Store> {
    Registry::new(fresh_fs(blocks))
}

pub fn sha256(data: &[u8]) -> Digest {
    filesystem::digest::Hasher::digest_of(filesystem::Algorithm::Sha256, data)
}

/// The `i`th 4 KiB blob of the figure `fs_small_put_ops`.
pub fn small_blob(i: u64) -> Vec<u8> {
    noise(0x5A11 + i, 4096)
}

/// Puts small blob `i` with its link into `bench/small`, as fsbench does
/// (durable unless the caller turned group commit on).
pub fn small_put<T: Transactional>(reg: &mut Registry<T>, i: u64) {
    let data = small_blob(i);
    let d = sha256(&data);
    let repo = RepoName::parse("bench/small").unwrap();
    reg.put_blob_into(&d, &mut &data[..], Some(&repo)).unwrap();
}

/// Uploads `data` as a blob in `piece`-byte pieces read straight into
/// the step buffer (`upload_write_with`, as the fs service does), after
/// `prepare` has seen the new upload; then checks that the blob reads
/// back whole and that fsck is clean.
pub fn upload_in_pieces(
    reg: &mut Registry<Store>,
    data: &[u8],
    piece: usize,
    prepare: impl FnOnce(&mut filesystem::Upload),
) {
    let d = sha256(data);
    let mut up = reg.begin_upload(None, Algorithm::Sha256).unwrap();
    prepare(&mut up);
    for p in data.chunks(piece) {
        reg.upload_write_with(&mut up, p.len(), |buf| {
            buf.copy_from_slice(p);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(reg.finish_upload(up, &d).unwrap(), data.len() as u64);
    let fs = reg.fs();
    let ino = fs.stat(&filesystem::layout::blob_data(&d)).unwrap().ino;
    let mut back = vec![0u8; data.len()];
    let mut got = 0;
    while got < back.len() {
        got += fs.read_at(ino, got as u64, &mut back[got..]).unwrap();
    }
    assert!(back == data, "the blob reads back");
    assert!(fs.fsck(true).unwrap().is_clean());
}

pub fn read_all(fs: &mut Fs<Store>, path: &str) -> Vec<u8> {
    fs.read_file(path, u64::MAX).expect("read")
}

/// Everything a user can observe, hashed: live tree (paths, kinds, sizes,
/// contents), snapshot names and each snapshot's tree.
pub fn fingerprint<T: block::Transactional>(fs: &mut Fs<T>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let mut trees: Vec<Option<String>> = vec![None];
    for s in fs.snapshot_list().expect("snapshot list") {
        h.update(s.name.as_bytes());
        trees.push(Some(s.name));
    }
    for t in trees {
        h.update(b"|tree|");
        for e in fs.walk(t.as_deref()).expect("walk") {
            h.update(e.path.as_bytes());
            h.update(&e.size.to_le_bytes());
            if e.kind == Kind::File {
                let bytes = fs
                    .read_file_in(t.as_deref(), &e.path, u64::MAX)
                    .expect("read");
                h.update(blake3::hash(&bytes).as_bytes());
            } else {
                h.update(b"/");
            }
        }
    }
    h.update(&fs.logical_bytes().to_le_bytes());
    *h.finalize().as_bytes()
}

/// The harness of the tests that count a small put's work: a fresh
/// registry under group commit (as the fs service runs it), 64 warm-up
/// puts (the tree has its directories and a few hundred records, as in
/// examples/small_put_profile.rs), then `n` measured puts, each synced;
/// `probe` reads the counters right before and right after those. Then
/// checks that every put reads back and is linked, and the tree is sound.
pub fn measure_small_puts<M>(n: u64, mut probe: impl FnMut(&mut Registry<Store>) -> M) -> (M, M) {
    const WARM: u64 = 64;
    let mut reg = fresh_registry(8192);
    reg.fs().set_group_commit(true);
    let put = |reg: &mut Registry<Store>, i: u64| {
        small_put(reg, i);
        reg.fs().sync().unwrap();
    };
    for i in 0..WARM {
        put(&mut reg, i);
    }
    let before = probe(&mut reg);
    for i in WARM..WARM + n {
        put(&mut reg, i);
    }
    let after = probe(&mut reg);
    let repo = RepoName::parse("bench/small").unwrap();
    for i in 0..WARM + n {
        let d = sha256(&small_blob(i));
        assert_eq!(reg.read_blob(&d, 1 << 20).unwrap(), Some(small_blob(i)));
        assert!(reg.is_linked(&repo, &d).unwrap(), "put {i} not linked");
    }
    assert!(reg.fs().fsck(true).unwrap().is_clean());
    (before, after)
}

/// The whole blob `digest`, read back in 64 KiB pieces.
pub fn read_blob<T: Transactional>(reg: &mut Registry<T>, digest: &Digest) -> Vec<u8> {
    let mut r = reg.get_blob(digest).unwrap().expect("blob stored");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let k = r.read(&mut buf).unwrap();
        if k == 0 {
            return got;
        }
        got.extend_from_slice(&buf[..k]);
    }
}

/// After a power cut, what a client of an upload session does: resumes
/// session `id` of `repo`, which must hold at least the `acked` bytes a
/// reply called durable (it may be gone only if none were), is told the
/// real size when it resends from a stale offset, sends the rest of
/// `data` from the size it is told and finishes; the blob must read back
/// as `data`. Whether the session was there.
pub fn resume_and_finish<T: Transactional>(
    reg: &mut Registry<T>,
    repo: &RepoName,
    id: u64,
    acked: Option<u64>,
    data: &[u8],
    ctx: &str,
) -> bool {
    let mut up = match reg.resume_upload(repo, id, Algorithm::Sha256) {
        Ok(up) => up,
        Err(e) => {
            assert!(acked.is_none(), "{ctx}: session lost: {e}");
            return false;
        }
    };
    let size = up.size();
    assert!(
        size >= acked.unwrap_or(0),
        "{ctx}: {size} bytes after recovery, {acked:?} were acknowledged"
    );
    if size > 0 {
        assert_eq!(
            reg.append_durable(&mut up, 0, b"x"),
            Err(SessionError::WrongOffset { offset: 0, size }),
            "{ctx}: a stale offset"
        );
    }
    reg.append_durable(&mut up, size, &data[size as usize..])
        .unwrap_or_else(|e| panic!("{ctx}: resume: {e:?}"));
    let digest = sha256(data);
    reg.finish_upload(up, &digest)
        .unwrap_or_else(|e| panic!("{ctx}: finish: {e}"));
    assert!(read_blob(reg, &digest) == data, "{ctx}: blob differs");
    true
}
