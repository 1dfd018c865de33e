//! Registry benchmarks on the host (in-memory device, release build).
//! One line per figure: `name: value unit`.

use std::time::Instant;

use block::{BlockStore, Config, MemDevice};
use filesystem::digest::Hasher;
use filesystem::{Algorithm, Digest, Fs, Reference, Registry, RepoName};
use testkit::noise;

type Reg = Registry<BlockStore<MemDevice>>;

fn registry(blocks: u64) -> Reg {
    let config = Config {
        cache_blocks: 4096,
        journal_blocks: 4096,
        group_commit_blocks: 256,
    };
    let store = BlockStore::format(MemDevice::new(blocks), config).expect("format");
    Registry::new(Fs::open(store, 0).expect("mkfs"))
}

fn sha(data: &[u8]) -> Digest {
    Hasher::digest_of(Algorithm::Sha256, data)
}

fn get_all(reg: &mut Reg, d: &Digest, buf: &mut [u8]) -> u64 {
    let mut r = reg.get_blob(d).expect("get").expect("present");
    let mut total = 0;
    loop {
        let n = r.read(buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

fn put_get(label: &str, size: usize, count: usize) {
    let mut reg = registry(((size * count) as u64 / 4096) * 2 + 65_536);
    let blobs: Vec<Vec<u8>> = (0..count).map(|i| noise(i as u64 + 1, size)).collect();
    let digests: Vec<Digest> = blobs.iter().map(|b| sha(b)).collect();
    let t = Instant::now();
    for (b, d) in blobs.iter().zip(&digests) {
        reg.put_blob(d, &mut &b[..]).expect("put");
    }
    let put = t.elapsed().as_secs_f64();
    let mut buf = vec![0u8; 1 << 20];
    let t = Instant::now();
    for d in &digests {
        get_all(&mut reg, d, &mut buf);
    }
    let get = t.elapsed().as_secs_f64();
    let mb = (size * count) as f64 / 1e6;
    println!("blob_put_{label}: {:.1} MB/s", mb / put);
    println!("blob_get_{label}: {:.1} MB/s", mb / get);
    if size <= 4096 {
        println!("blob_put_{label}_rate: {:.0} blobs/s", count as f64 / put);
    }
}

fn dedup() {
    // 12 images over 3 base stacks; every image adds one unique 1 MiB layer
    // and a manifest. Layers are pushed into their own repositories.
    let mut reg = registry(200_000);
    let bases: Vec<Vec<u8>> = (0..3).map(|i| noise(100 + i, 8 << 20)).collect();
    let runtimes: Vec<Vec<u8>> = (0..3).map(|i| noise(200 + i, 4 << 20)).collect();
    for img in 0..12u64 {
        let repo = RepoName::parse(&format!("bench/image{img}")).expect("name");
        let layers = [
            &bases[(img % 3) as usize],
            &runtimes[((img / 3) % 3) as usize],
            &noise(300 + img, 1 << 20),
        ];
        let mut manifest = String::from("{\"layers\":[");
        for l in layers {
            let d = sha(l);
            reg.put_blob(&d, &mut &l[..]).expect("put");
            reg.link_blob(&repo, &d).expect("link");
            manifest.push_str(&format!("\"{d}\","));
        }
        manifest.push_str("]}");
        let m = manifest.into_bytes();
        reg.put_manifest(
            &repo,
            &Reference::parse("latest").expect("tag"),
            &m,
            &sha(&m),
        )
        .expect("manifest");
    }
    // Replaced upload tail chunks are garbage until a GC: collect first.
    reg.fs().gc(false).expect("gc");
    let s = reg.fs().stats().expect("stats");
    // Per-repository logical bytes: what 12 separate pulls would store.
    let per_image: u64 = (8 << 20) + (4 << 20) + (1 << 20);
    println!("dedup_images: 12 count");
    println!(
        "dedup_logical_bytes_per_image_sum: {} bytes",
        per_image * 12
    );
    println!("dedup_physical_bytes: {} bytes", s.physical_bytes);
    println!(
        "dedup_ratio: {:.2} x",
        (per_image * 12) as f64 / s.chunk_bytes as f64
    );
    println!("dedup_ratio_blob_pool: {:.2} x", s.dedup_ratio);
}

fn snapshot_create(files: usize, file_size: usize) {
    let mut reg = registry(((files * file_size) as u64 / 4096) * 2 + 65_536);
    let fs = reg.fs();
    for i in 0..files {
        fs.write_file(&format!("/d{}/f{i}", i % 64), &noise(i as u64, file_size))
            .expect("write");
    }
    let n = 20;
    let t = Instant::now();
    for i in 0..n {
        fs.snapshot_create(&format!("s{i}")).expect("snapshot");
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let mib = (files * file_size) >> 20;
    println!("snapshot_create_{files}files_{mib}mib: {us:.1} us");
}

fn gc() {
    let mut reg = registry(300_000);
    let mut digests = Vec::new();
    for i in 0..32u64 {
        let b = noise(500 + i, 8 << 20);
        let d = sha(&b);
        reg.put_blob(&d, &mut &b[..]).expect("put");
        digests.push(d);
    }
    for d in digests.iter().step_by(2) {
        reg.delete_blob(d).expect("delete");
    }
    let t = Instant::now();
    let r = reg.fs().gc(false).expect("gc");
    let secs = t.elapsed().as_secs_f64();
    let gb = (r.bytes_scanned + r.sweep.bytes) as f64 / 1e9;
    println!(
        "gc_bytes_scanned: {} bytes",
        r.bytes_scanned + r.sweep.bytes
    );
    println!("gc_time_per_gb: {:.2} s/GB", secs / gb);
    println!("gc_freed: {} bytes", r.sweep.bytes);
}

/// Device bytes written / blob bytes for an 8 MiB blob uploaded in pieces
/// of `piece` bytes (journal, checkpoints and chunk data; after a sync and
/// a checkpoint, so nothing is left unwritten). Deterministic: the same
/// figure as `tests/upload_writes_each_byte_once.rs` asserts.
fn upload_write_amplification(label: &str, piece: usize) {
    let mut reg = registry(16_384);
    let blob = noise(13, 8 << 20);
    let d = sha(&blob);
    reg.fs().sync().expect("sync");
    let written = |reg: &mut Reg| reg.fs().device_mut().stats().blocks_written * 4096;
    reg.fs().device_mut().checkpoint().expect("checkpoint");
    let before = written(&mut reg);
    let mut up = reg.begin_upload(None, Algorithm::Sha256).expect("begin");
    for p in blob.chunks(piece) {
        reg.upload_write(&mut up, p).expect("write");
    }
    reg.finish_upload(up, &d).expect("finish");
    reg.fs().sync().expect("sync");
    reg.fs().device_mut().checkpoint().expect("checkpoint");
    let amp = (written(&mut reg) - before) as f64 / blob.len() as f64;
    println!("upload_write_amplification_{label}: {amp:.3} x");
}

fn main() {
    upload_write_amplification("48k", 48 << 10);
    upload_write_amplification("1m", 1 << 20);
    upload_write_amplification("odd12345", 12_345);
    put_get("4k", 4096, 2000);
    put_get("64m", 64 << 20, 2);
    dedup();
    snapshot_create(256, 4096);
    snapshot_create(2048, 4096);
    snapshot_create(2048, 64 * 1024);
    gc();
}
