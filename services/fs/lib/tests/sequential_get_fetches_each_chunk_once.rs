//! Scenario: a large blob read front to back in 1 MiB steps, as the fs
//! service serves `BlobRead` (`Fs::read_to`, one call per step). Counted,
//! never timed (issue #13): each chunk is fetched and hashed exactly once
//! (a chunk cut by a step's end is kept for the next step, not fetched
//! again); each step locates its chunks in one content-store call and
//! reads their blocks in few block calls; the bytes read from the device
//! are the blob's own, padded to blocks, plus a few index and tree nodes.
//! Under QEMU every one of these calls is an IPC round trip, and every
//! byte read a copy, so the bounds below are the get's cost.

mod common;

use filesystem::{Fs, ReadFail, Registry};
use testkit::CountingReads;

const BLOB: usize = 8 << 20;
const STEP: u64 = 1 << 20;

/// Chunks the store cuts `data` into (its own chunker, as `put` runs it).
fn chunk_count(data: &[u8]) -> u64 {
    let mut chunker = content::Chunker::new();
    let mut rest = data;
    let mut n = 0;
    while let Some(cut) = chunker.find_cut(rest) {
        n += 1;
        rest = &rest[cut..];
    }
    n + u64::from(!rest.is_empty())
}

#[test]
fn a_sequential_get_fetches_each_chunk_once_with_few_calls() {
    let data = common::noise(0x5EED, BLOB);
    let d = common::sha256(&data);
    let dev = CountingReads::new(common::fresh_fs(16384).into_device());
    let mut reg = Registry::new(Fs::open(dev, 0).unwrap());
    reg.put_blob(&d, &mut &data[..]).unwrap();
    let fs = reg.fs();
    let chunks = chunk_count(&data);
    let ino = fs.stat(&filesystem::layout::blob_data(&d)).unwrap().ino;
    let counts0 = fs.read_counts();
    let (calls0, bytes0) = (fs.device().calls, fs.device().bytes);

    let mut got: Vec<u8> = Vec::with_capacity(BLOB);
    let mut steps = 0u64;
    let mut sink = |b: &[u8]| -> Result<(), ()> {
        got.extend_from_slice(b);
        Ok(())
    };
    let mut pos = 0u64;
    while pos < BLOB as u64 {
        let n = match fs.read_to(ino, pos, STEP, &mut sink) {
            Ok(n) => n,
            Err(ReadFail::Fs(e)) => panic!("read at {pos}: {e}"),
            Err(ReadFail::Sink(())) => unreachable!(),
        };
        assert_eq!(n, STEP.min(BLOB as u64 - pos), "a whole step at {pos}");
        pos += n;
        steps += 1;
    }
    assert!(got == data, "the blob's bytes, in order");

    let c = fs.read_counts();
    let fetched = c.fetched - counts0.fetched;
    let locates = c.locate_calls - counts0.locate_calls;
    let data_reads = c.block_reads - counts0.block_reads;
    let calls = fs.device().calls - calls0;
    let bytes = fs.device().bytes - bytes0;
    let mib = (BLOB >> 20) as f64;
    println!(
        "{chunks} chunks, {steps} steps: {fetched} fetches, {} kept, {locates} locates, \
         {data_reads} data reads; device: {:.1} reads per MiB, {:.3} bytes read per byte",
        c.kept_hits - counts0.kept_hits,
        calls as f64 / mib,
        bytes as f64 / BLOB as f64
    );
    // Each chunk fetched (and hashed) once; none through the one-chunk path.
    assert_eq!(fetched, chunks);
    assert_eq!(c.one_chunk, counts0.one_chunk);
    // One locate per step: the whole step's chunks in one content call.
    assert_eq!(locates, steps);
    // Chunks are stored in order, so a step's data is one or two runs.
    assert!(data_reads <= 2 * steps, "{data_reads} data reads");
    // Everything read: the chunk data once, padded to blocks, plus index
    // and tree nodes (a few per step; measured 4.4 reads per MiB, 1.039
    // bytes per byte, where reading chunk by chunk took ~30 and 1.14).
    assert!(calls as f64 / mib <= 6.0, "{calls} reads");
    assert!(bytes as f64 / (BLOB as f64) < 1.06, "{bytes} bytes read");
}
