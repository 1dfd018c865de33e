//! Content store figures on the host, over the block layer's in-memory
//! device: chunking speed, chunk put/get throughput, dedup ratio on a
//! synthetic set of images sharing layers. Prints `name: value unit` lines.

use std::time::Instant;

use block::{BlockStore, Config, Durability, MemDevice, Transactional};
use content::{ChunkMarks, ChunkRef, ChunkWriter, Chunker, ContentStore, ObjectReader, Sweep};

/// Deterministic incompressible bytes ([`testkit::noise`], in this
/// bench's argument order).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    testkit::noise(seed, len)
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn new_store(blocks: u64) -> (BlockStore<MemDevice>, ContentStore) {
    let config = Config {
        cache_blocks: 4096,
        journal_blocks: 4096,
        group_commit_blocks: 1024,
    };
    let mut tx = BlockStore::format(MemDevice::new(blocks), config).unwrap();
    tx.begin().unwrap();
    let store = ContentStore::create(&mut tx).unwrap();
    tx.commit(Durability::Durable).unwrap();
    (tx, store)
}

/// Puts `data` as one object, committing every `per_tx` bytes.
fn put_object(
    tx: &mut BlockStore<MemDevice>,
    store: &mut ContentStore,
    data: &[u8],
) -> Vec<ChunkRef> {
    let mut refs = Vec::new();
    let mut w = ChunkWriter::new();
    for piece in data.chunks(4 << 20) {
        tx.begin().unwrap();
        w.write(store, tx, piece, |r| refs.push(r)).unwrap();
        tx.commit(Durability::Batched).unwrap();
    }
    tx.begin().unwrap();
    w.finish(store, tx, |r| refs.push(r)).unwrap();
    tx.commit(Durability::Durable).unwrap();
    refs
}

fn main() {
    // Chunking alone.
    let data = noise(64 << 20, 1);
    let t = Instant::now();
    let mut c = Chunker::new();
    let mut at = 0;
    let mut chunks = 0usize;
    while let Some(n) = c.find_cut(&data[at..]) {
        at += n;
        chunks += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("content_chunking: {:.0} MB/s", mb_per_s(data.len(), secs));
    println!(
        "content_avg_chunk: {:.0} KiB",
        data.len() as f64 / (chunks.max(1) as f64) / 1024.0
    );

    // Put and get of 64 MiB of unique data.
    let (mut tx, mut store) = new_store(64 * 1024);
    let t = Instant::now();
    let refs = put_object(&mut tx, &mut store, &data);
    let secs = t.elapsed().as_secs_f64();
    println!("content_put: {:.0} MB/s", mb_per_s(data.len(), secs));
    let mut reader = ObjectReader::new(&refs);
    let mut out = vec![0u8; 1 << 20];
    let t = Instant::now();
    let mut offset = 0u64;
    loop {
        let n = reader.read_at(&store, &mut tx, offset, &mut out).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(&out[..n], &data[offset as usize..offset as usize + n]);
        offset += n as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(offset as usize, data.len());
    println!(
        "content_get_verified: {:.0} MB/s",
        mb_per_s(data.len(), secs)
    );

    // Putting the same data again: hashing and index lookups only.
    let t = Instant::now();
    let again = put_object(&mut tx, &mut store, &data);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(again, refs);
    println!(
        "content_put_duplicate: {:.0} MB/s",
        mb_per_s(data.len(), secs)
    );

    // Dedup ratio: 8 "images", each a shared 16 MiB base layer, a 4 MiB
    // layer shared by pairs of images, and a 2 MiB layer of its own,
    // each image's layers concatenated with a small unique header so the
    // shared data sits at shifted offsets.
    let (mut tx, mut store) = new_store(64 * 1024);
    let base = noise(16 << 20, 2);
    let mut logical = 0usize;
    let mut images = Vec::new();
    for image in 0..8u64 {
        let mut blob = noise(100 + image as usize * 37, 1000 + image);
        blob.extend_from_slice(&base);
        blob.extend_from_slice(&noise(4 << 20, 10 + image / 2));
        blob.extend_from_slice(&noise(2 << 20, 100 + image));
        logical += blob.len();
        images.push(put_object(&mut tx, &mut store, &blob));
    }
    let physical = store.stats().chunk_bytes as usize;
    println!(
        "content_dedup_logical: {:.1} MiB",
        logical as f64 / (1 << 20) as f64
    );
    println!(
        "content_dedup_physical: {:.1} MiB",
        physical as f64 / (1 << 20) as f64
    );
    println!(
        "content_dedup_ratio: {:.2} x",
        logical as f64 / physical as f64
    );

    // GC over the dedup set: keep the first four images' chunks, sweep the rest.
    tx.begin().unwrap();
    let epoch = store.begin_gc().unwrap();
    tx.commit(Durability::Durable).unwrap();
    let t = Instant::now();
    let mut marks = ChunkMarks::new(tx.block_count());
    let mut marked = 0usize;
    for refs in &images[..4] {
        for r in refs {
            store.mark(&mut tx, r, &mut marks).unwrap();
            marked += 1;
        }
    }
    let mark_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sweep = Sweep::new(epoch);
    while !sweep.is_done() {
        tx.begin().unwrap();
        store.sweep_step(&mut tx, &marks, &mut sweep, 256).unwrap();
        tx.commit(Durability::Batched).unwrap();
    }
    tx.sync().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("content_gc_mark: {:.0} refs/s", marked as f64 / mark_secs);
    println!(
        "content_gc_sweep: {:.0} chunks/s",
        sweep.report.scanned as f64 / secs
    );
    println!(
        "content_gc_freed: {:.1} MiB",
        sweep.report.bytes as f64 / (1 << 20) as f64
    );
}
