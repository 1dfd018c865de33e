//! Journal throughput against a file-backed device (a temp file; `flush` is
//! fsync): transactions/s and MB/s for small and large transactions in both
//! modes, the bulk-data path (`write_fresh`), raw device writes of the same
//! data, and the journal's overhead ratio. One `name: value unit` per line.

use std::time::{Duration, Instant};

use block::{
    BlockDevice, BlockStore, Config, Durability, Extent, FileDevice, FormatOptions, Transactional,
    BLOCK_SIZE,
};

const DEVICE_BLOCKS: u64 = 32 * 1024; // 128 MiB
const LARGE_BLOCKS: usize = 256; // 1 MiB transactions

fn temp_device(name: &str) -> (FileDevice, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("block-bench-{}-{name}.img", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    (FileDevice::new(file, DEVICE_BLOCKS).unwrap(), path)
}

fn config() -> Config {
    Config {
        cache_blocks: 4096,
        journal_blocks: 4096,
        group_commit_blocks: 512,
    }
}

fn store(name: &str) -> (BlockStore<FileDevice>, std::path::PathBuf) {
    store_with(name, FormatOptions::default())
}

fn store_with(name: &str, options: FormatOptions) -> (BlockStore<FileDevice>, std::path::PathBuf) {
    let (dev, path) = temp_device(name);
    (
        BlockStore::format_with(dev, config(), options).unwrap(),
        path,
    )
}

fn mbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

/// `n` transactions, each journaling `blocks` blocks of a pre-allocated
/// area (`distinct`: a new part of it each time, else the same blocks).
/// Timed until everything is checkpointed home.
fn journaled(name: &str, n: usize, blocks: usize, mode: Durability, distinct: bool) -> Duration {
    let (mut s, path) = store(name);
    let parts = if distinct { n } else { 1 };
    s.begin().unwrap();
    let area: Extent = s.allocate((blocks * parts) as u64).unwrap();
    s.commit(Durability::Durable).unwrap();
    let data = vec![0xA5u8; blocks * BLOCK_SIZE];
    let t = Instant::now();
    for i in 0..n {
        s.begin().unwrap();
        s.write(area.start + ((i % parts) * blocks) as u64, &data)
            .unwrap();
        s.commit(mode).unwrap();
    }
    s.sync().unwrap();
    s.checkpoint().unwrap();
    let elapsed = t.elapsed();
    drop(s);
    let _ = std::fs::remove_file(path);
    elapsed
}

/// `n` transactions, each allocating `blocks` fresh blocks, writing them
/// unjournaled and journaling one metadata block that points at them.
fn fresh(name: &str, n: usize, blocks: usize, options: FormatOptions) -> (Duration, u64) {
    let (mut s, path) = store_with(name, options);
    let data = vec![0x5Au8; blocks * BLOCK_SIZE];
    let root = s.root_block(0);
    let mut live: Vec<Extent> = Vec::new();
    let t = Instant::now();
    for i in 0..n {
        s.begin().unwrap();
        if live.len() > 16 {
            let old = live.remove(0);
            s.free(old).unwrap();
        }
        let e = s.allocate(blocks as u64).unwrap();
        s.write_fresh(e.start, &data).unwrap();
        s.write(root, &[i as u8; BLOCK_SIZE]).unwrap();
        s.commit(Durability::Durable).unwrap();
        live.push(e);
    }
    let elapsed = t.elapsed();
    let flushes = s.stats().device_flushes;
    drop(s);
    let _ = std::fs::remove_file(path);
    (elapsed, flushes)
}

/// The same bytes written straight to the device, one fsync per `blocks`.
fn raw(name: &str, n: usize, blocks: usize) -> Duration {
    let (mut dev, path) = temp_device(name);
    let data = vec![0xA5u8; blocks * BLOCK_SIZE];
    let t = Instant::now();
    for i in 0..n {
        let at = (i * blocks) as u64 % (DEVICE_BLOCKS - blocks as u64);
        dev.write(at, &data).unwrap();
        dev.flush().unwrap();
    }
    let elapsed = t.elapsed();
    let _ = std::fs::remove_file(path);
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Each figure is the median of three runs, the runs of all figures
/// interleaved: fsync times on a shared host drift.
fn main() {
    const RUNS: usize = 3;
    let small_durable = 300;
    let small_batched = 20_000;
    let large = 40;
    let bytes = large * LARGE_BLOCKS * BLOCK_SIZE;
    let mut t_sd = Vec::new();
    let mut t_sb = Vec::new();
    let mut t_ld = Vec::new();
    let mut t_lb = Vec::new();
    let mut t_fd = Vec::new();
    let mut t_raw = Vec::new();
    let mut t_fc = Vec::new();
    for _ in 0..RUNS {
        t_raw.push(raw("raw", large, LARGE_BLOCKS));
        t_ld.push(journaled(
            "ld",
            large,
            LARGE_BLOCKS,
            Durability::Durable,
            true,
        ));
        t_fd.push(fresh("fd", large, LARGE_BLOCKS, FormatOptions::default()).0);
        t_fc.push(
            fresh(
                "fc",
                large,
                LARGE_BLOCKS,
                FormatOptions {
                    data_checksums: true,
                },
            )
            .0,
        );
        t_lb.push(journaled(
            "lb",
            large,
            LARGE_BLOCKS,
            Durability::Batched,
            true,
        ));
        t_sd.push(journaled(
            "sd",
            small_durable,
            1,
            Durability::Durable,
            false,
        ));
        t_sb.push(journaled(
            "sb",
            small_batched,
            1,
            Durability::Batched,
            false,
        ));
    }
    let (sd, sb, ld, lb, fd, rw) = (
        median(t_sd),
        median(t_sb),
        median(t_ld),
        median(t_lb),
        median(t_fd),
        median(t_raw),
    );
    println!(
        "block_small_durable_tps: {:.0} txn/s",
        small_durable as f64 / sd.as_secs_f64()
    );
    println!(
        "block_small_batched_tps: {:.0} txn/s",
        small_batched as f64 / sb.as_secs_f64()
    );
    println!(
        "block_large_durable_tps: {:.1} txn/s",
        large as f64 / ld.as_secs_f64()
    );
    println!("block_large_durable_mbps: {:.1} MB/s", mbps(bytes, ld));
    println!(
        "block_large_batched_tps: {:.1} txn/s",
        large as f64 / lb.as_secs_f64()
    );
    println!("block_large_batched_mbps: {:.1} MB/s", mbps(bytes, lb));
    println!("block_fresh_durable_mbps: {:.1} MB/s", mbps(bytes, fd));
    println!(
        "block_fresh_checksummed_durable_mbps: {:.1} MB/s",
        mbps(bytes, median(t_fc))
    );
    println!("block_raw_write_mbps: {:.1} MB/s", mbps(bytes, rw));
    // Time to store the same bytes through the journal (durable 1 MiB
    // transactions, each to new blocks, until checkpointed home) over raw
    // writes with one fsync per MiB: >1 is overhead (data is written twice).
    println!(
        "block_journal_overhead_ratio: {:.2} ratio",
        ld.as_secs_f64() / rw.as_secs_f64()
    );
    println!(
        "block_fresh_overhead_ratio: {:.2} ratio",
        fd.as_secs_f64() / rw.as_secs_f64()
    );
}
