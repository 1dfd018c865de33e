//! Overlap (issue #13, `filesystem::stream`'s "Overlap"): a stream hands
//! its hook every byte it pushes, in order, a piece (`SEEN_PIECE`, the
//! content service's push) at a time, so the filesystem service SHA-256es
//! piece n while the content service BLAKE3s it. Gathered bytes are not
//! seen until they are pushed; an upload's digest is still that of every
//! byte (gathered ones are hashed by the finish's flush), and a wrong one
//! is still refused.

mod common;

use common::{fresh_fs, fresh_registry, noise, sha256};
use filesystem::stream::{AppendStream, StreamError, SEEN_PIECE};
use filesystem::FsError;

const MIB: usize = 1 << 20;

fn fs_err(e: StreamError) -> FsError {
    match e {
        StreamError::Fs(e) => e,
        StreamError::Stale => panic!("stale stream"),
    }
}

#[test]
fn a_push_is_seen_piece_by_piece_in_order_and_gathered_bytes_only_when_pushed() {
    let mut fs = fresh_fs(16_384);
    let ino = fs.create("/f").unwrap();
    let mut s = AppendStream::new(ino, 0);
    let data = noise(31, 3 * MIB + MIB / 2 + 1234 * 2);
    let (gathered, pushed) = data.split_at(3 * MIB + MIB / 2);
    assert!(s.gather(gathered));
    let mut seen: Vec<Vec<u8>> = Vec::new();
    fs.atomically(|fs| {
        fs.stream_push_seen(&mut s, pushed, &mut |b| seen.push(b.to_vec()))
            .map_err(fs_err)
    })
    .unwrap();
    let lens: Vec<usize> = seen.iter().map(Vec::len).collect();
    // Each part in pieces of SEEN_PIECE: 3.5 MiB gathered, then the data.
    assert_eq!(SEEN_PIECE, MIB);
    assert_eq!(lens, [MIB, MIB, MIB, MIB / 2, 2468]);
    assert!(seen.concat() == data, "every byte seen once, in order");
    // The flush pushes nothing more (all went), and sees nothing.
    let mut more = 0;
    fs.atomically(|fs| {
        fs.stream_flush_seen(&mut s, &mut |b| more += b.len())
            .map_err(fs_err)
    })
    .unwrap();
    assert_eq!(more, 0);
    assert_eq!(s.held(), 0);
    let mut back = vec![0u8; data.len()];
    let mut got = 0;
    while got < back.len() {
        got += fs.read_at(ino, got as u64, &mut back[got..]).unwrap();
    }
    assert!(back == data, "the file holds the bytes");
}

#[test]
fn an_upload_whose_last_step_is_hashed_by_the_finish_verifies_or_is_refused() {
    // A last step still gathered at the finish (not a multiple of a step).
    let data = noise(32, 9 * MIB + 77);
    let mut reg = fresh_registry(16_384);
    for (digest, ok) in [(sha256(b"other"), false), (sha256(&data), true)] {
        let mut up = reg
            .begin_upload(None, filesystem::Algorithm::Sha256)
            .unwrap();
        for p in data.chunks(MIB) {
            reg.upload_write(&mut up, p).unwrap();
        }
        let id = up.id().to_string();
        let r = reg.finish_upload(up, &digest);
        assert_eq!(r.is_ok(), ok, "{r:?}");
        // Refused or moved into blobs/: the session is gone either way.
        assert!(!reg.list_uploads(None).unwrap().contains(&id));
    }
    assert!(common::read_blob(&mut reg, &sha256(&data)) == data);
}
