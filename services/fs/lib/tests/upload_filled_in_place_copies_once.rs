//! Copy little (issue #13): an upload fed through `upload_write_with` (the
//! filesystem service reads its client's lease straight into the upload's
//! step buffer) stores the same chunks and writes the same device bytes as
//! one fed through `upload_write`, without a copy into the step buffer of
//! its own; a fill that fails appends nothing and the upload goes on.
//! Deterministic counts: device bytes per blob byte and bytes copied.

mod common;

use std::sync::atomic::Ordering;

use block::BlockStore;
use common::{fresh_registry, noise, sha256, Store};
use filesystem::chunks::ChunkRef;
use filesystem::stream::GATHERED_BYTES;
use filesystem::{layout, Registry};

const BLOB: usize = 8 << 20;
const PIECE: usize = 1 << 20;

/// Bytes the device has written so far.
fn written(reg: &mut Registry<Store>) -> u64 {
    BlockStore::stats(reg.fs().device_mut()).blocks_written * block::BLOCK_SIZE as u64
}

/// Puts `data` in `PIECE` pieces, filled in place or not; answers (device
/// bytes written, bytes copied into step buffers, the blob's chunks).
fn put(data: &[u8], in_place: bool) -> (u64, u64, Vec<ChunkRef>) {
    let mut reg = fresh_registry(16_384);
    reg.fs().sync().unwrap();
    reg.fs().device_mut().checkpoint().unwrap();
    let before = written(&mut reg);
    let gathered = GATHERED_BYTES.load(Ordering::Relaxed);
    let d = sha256(data);
    let mut up = reg
        .begin_upload(None, filesystem::Algorithm::Sha256)
        .unwrap();
    for (i, p) in data.chunks(PIECE).enumerate() {
        if !in_place {
            reg.upload_write(&mut up, p).unwrap();
            continue;
        }
        if i == 3 {
            // A lease that fails: nothing of the piece is taken.
            let size = up.size();
            let r = reg.upload_write_with(&mut up, p.len(), |_| Err("lease gone"));
            assert_eq!(r.unwrap(), Err("lease gone"));
            assert_eq!(up.size(), size);
        }
        reg.upload_write_with(&mut up, p.len(), |buf| {
            buf.copy_from_slice(p);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(reg.finish_upload(up, &d).unwrap(), data.len() as u64);
    reg.fs().sync().unwrap();
    reg.fs().device_mut().checkpoint().unwrap();
    let copied = GATHERED_BYTES.load(Ordering::Relaxed) - gathered;
    let bytes = written(&mut reg) - before;
    let fs = reg.fs();
    let ino = fs.stat(&layout::blob_data(&d)).unwrap().ino;
    let chunks = fs.file_chunks(ino).unwrap();
    let mut back = vec![0u8; data.len()];
    let mut got = 0;
    while got < back.len() {
        got += fs.read_at(ino, got as u64, &mut back[got..]).unwrap();
    }
    assert!(back == data, "the blob reads back");
    assert!(fs.fsck(true).unwrap().is_clean());
    (bytes, copied, chunks)
}

#[test]
fn upload_filled_in_place_copies_once() {
    let data = noise(21, BLOB);
    let (plain_bytes, plain_copied, plain_chunks) = put(&data, false);
    let (bytes, copied, chunks) = put(&data, true);
    // Through `upload_write` 7 of 8 pieces were copied into the step buffer
    // (the 5th piece's step pushed its 4 MiB plus the piece itself).
    assert_eq!(plain_copied, (BLOB - PIECE) as u64);
    assert_eq!(copied, 0, "filled in place: no copy of the step's own");
    assert_eq!(chunks, plain_chunks, "the same chunk boundaries");
    let amp = bytes as f64 / BLOB as f64;
    println!(
        "device bytes per blob byte: {amp:.3} (upload_write: {:.3})",
        plain_bytes as f64 / BLOB as f64
    );
    // The same device writes (the chunks' padding and the metadata, ~5%).
    assert!(bytes <= plain_bytes, "{bytes} > {plain_bytes}");
    assert!(amp <= 1.06, "device bytes per blob byte {amp:.3}");
}
