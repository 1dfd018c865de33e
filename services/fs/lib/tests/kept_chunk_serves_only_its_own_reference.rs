//! Scenario: the read path keeps the chunk a read ended in (`Fs::read_to`,
//! `src/fs/stage.rs`), keyed by its `ChunkRef`. Its rule: kept bytes are
//! served only to a read whose own extent lookup names that same
//! reference, so they can never be stale. Here the file is overwritten
//! right after a read that left a chunk kept: the next read returns the
//! new bytes. Another file holding the same chunk (dedup) is served from
//! the kept chunk, and gets exactly its bytes.

mod common;

use filesystem::ReadFail;

const SIZE: usize = 600_000;
const FIRST: u64 = 100_000;

fn read(fs: &mut filesystem::Fs<common::Store>, path: &str, offset: u64, max: u64) -> Vec<u8> {
    let ino = fs.stat(path).unwrap().ino;
    let mut got = Vec::new();
    let mut sink = |b: &[u8]| -> Result<(), ()> {
        got.extend_from_slice(b);
        Ok(())
    };
    match fs.read_to(ino, offset, max, &mut sink) {
        Ok(_) => {}
        Err(ReadFail::Fs(e)) => panic!("read {path} at {offset}: {e}"),
        Err(ReadFail::Sink(())) => unreachable!(),
    }
    got
}

#[test]
fn kept_chunk_serves_only_its_own_reference() {
    let mut fs = common::fresh_fs(4096);
    let old = common::noise(1, SIZE);
    let new = common::noise(2, SIZE);
    fs.write_file("/a", &old).unwrap();
    fs.write_file("/same", &old).unwrap();

    // A read ending inside a chunk: that chunk is kept.
    assert_eq!(read(&mut fs, "/a", 0, FIRST), old[..FIRST as usize]);
    let kept0 = fs.read_counts().kept_hits;

    // The same chunk in another file is served from the kept bytes.
    let n = 50_000;
    assert_eq!(
        read(&mut fs, "/same", FIRST, n),
        old[FIRST as usize..(FIRST + n) as usize]
    );
    assert_eq!(
        fs.read_counts().kept_hits,
        kept0 + 1,
        "served from the kept chunk"
    );

    // Overwritten: the extent map names other chunks, the kept one is
    // never used for them.
    let fetched0 = fs.read_counts().fetched;
    fs.write_file("/a", &new).unwrap();
    let rest = read(&mut fs, "/a", FIRST, SIZE as u64);
    assert_eq!(rest, new[FIRST as usize..]);
    assert!(
        fs.read_counts().fetched > fetched0,
        "the new chunks were fetched"
    );
    assert_eq!(read(&mut fs, "/same", 0, SIZE as u64), old);
}
