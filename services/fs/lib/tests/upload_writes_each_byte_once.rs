//! Write once: an upload's chunker stays open across pieces, so the blob's
//! chunk boundaries and stored chunks are the same whatever the piece size,
//! and the device writes each byte about once (issue #13,
//! `upload_write_amplification`: device bytes written / blob bytes).

mod common;

use block::BlockStore;
use common::{fresh_registry, noise, sha256, Store};
use filesystem::chunks::ChunkRef;
use filesystem::{layout, Registry};

const BLOB: usize = 8 << 20;

/// Bytes the device has written so far (journal, checkpoints, data).
fn written(reg: &mut Registry<Store>) -> u64 {
    let s = BlockStore::stats(reg.fs().device_mut());
    s.blocks_written * block::BLOCK_SIZE as u64
}

/// Puts `data` in pieces of `piece` bytes through an upload session;
/// returns (device bytes written for it, the blob's chunk list, chunks
/// stored by the content store).
fn put_in_pieces(data: &[u8], piece: usize) -> (u64, Vec<ChunkRef>, u64) {
    let mut reg = fresh_registry(16_384);
    // A registry in use: its top directories exist (an upload of its own).
    let warm = noise(99, 5000);
    let mut up = reg
        .begin_upload(None, filesystem::Algorithm::Sha256)
        .unwrap();
    reg.upload_write(&mut up, &warm).unwrap();
    reg.finish_upload(up, &sha256(&warm)).unwrap();
    reg.fs().sync().unwrap();
    reg.fs().device_mut().checkpoint().unwrap();
    let before = written(&mut reg);
    let d = sha256(data);
    let mut up = reg
        .begin_upload(None, filesystem::Algorithm::Sha256)
        .unwrap();
    for p in data.chunks(piece) {
        reg.upload_write(&mut up, p).unwrap();
    }
    assert_eq!(reg.finish_upload(up, &d).unwrap(), data.len() as u64);
    reg.fs().sync().unwrap();
    reg.fs().device_mut().checkpoint().unwrap();
    let bytes = written(&mut reg) - before;
    let fs = reg.fs();
    let ino = fs.stat(&layout::blob_data(&d)).unwrap().ino;
    let chunks = fs.file_chunks(ino).unwrap();
    let stored = fs.stats().unwrap().chunks;
    assert!(fs.fsck(true).unwrap().is_clean());
    (bytes, chunks, stored)
}

#[test]
fn chunks_and_device_writes_do_not_depend_on_piece_size() {
    let data = noise(13, BLOB);
    let mut first: Option<(Vec<ChunkRef>, u64)> = None;
    for piece in [12_345, 48 << 10, 1 << 20] {
        let (bytes, chunks, stored) = put_in_pieces(&data, piece);
        let amp = bytes as f64 / BLOB as f64;
        println!("upload_write_amplification at {piece} B pieces: {amp:.3}");
        assert!(amp <= 1.05, "{amp:.3} at {piece} B pieces");
        match &first {
            None => first = Some((chunks, stored)),
            Some((c, s)) => {
                assert_eq!(&chunks, c, "chunk boundaries at {piece} B pieces");
                assert_eq!(stored, *s, "chunks stored at {piece} B pieces");
            }
        }
    }
}

#[test]
fn one_byte_pieces_cut_the_same_chunks_as_one_write() {
    let data = noise(14, 300_000);
    let (_, whole, _) = put_in_pieces(&data, data.len());
    let (_, bytewise, _) = put_in_pieces(&data, 1);
    assert!(whole.len() > 2, "{} chunks", whole.len());
    assert_eq!(bytewise, whole);
}

#[test]
fn durable_patches_rewrite_one_tail_each_and_cut_the_same_chunks() {
    let data = noise(15, 3 << 20);
    let (_, whole, _) = put_in_pieces(&data, data.len());
    let mut reg = fresh_registry(16_384);
    let mut up = reg
        .begin_upload(None, filesystem::Algorithm::Sha256)
        .unwrap();
    // Five PATCHes of 48 KiB pieces, each durable before it "answers".
    for patch in data.chunks(data.len() / 5 + 1) {
        for piece in patch.chunks(48 << 10) {
            let at = up.size();
            reg.append_piece(&mut up, at, piece).unwrap();
        }
        reg.sync_upload(&mut up).unwrap();
        // Durable means stored: the data file holds every byte.
        let path = layout::upload_data(None, up.id());
        assert_eq!(reg.fs().stat(&path).unwrap().size, up.size());
    }
    let d = sha256(&data);
    reg.finish_upload(up, &d).unwrap();
    let fs = reg.fs();
    let ino = fs.stat(&layout::blob_data(&d)).unwrap().ino;
    assert_eq!(fs.file_chunks(ino).unwrap(), whole);
    assert!(fs.fsck(true).unwrap().is_clean());
}
