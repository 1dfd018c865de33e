//! Runs the small-put workload of `fs_small_put_ops` on the host, for a
//! profiler: 4 KiB registry blob puts with their repository link, group
//! commit on and a sync after each, as the fs service does for one client.
//! `cargo run --release -p filesystem --example small_put_profile [N]`,
//! e.g. under `valgrind --tool=callgrind` (instruction counts do not
//! depend on the machine's load).

use block::{BlockStore, Config, MemDevice};
use filesystem::digest::Hasher;
use filesystem::{Algorithm, Fs, Registry, RepoName};
use testkit::noise;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let store = BlockStore::format(MemDevice::new(65_536), Config::default()).expect("format");
    let mut reg = Registry::new(Fs::open(store, 0).expect("mkfs"));
    reg.fs().set_group_commit(true);
    let repo = RepoName::parse("bench/small").expect("repo");
    let put = |reg: &mut Registry<_>, i: u64| {
        let data = noise(0x5A11 + i, 4096);
        let d = Hasher::digest_of(Algorithm::Sha256, &data);
        reg.put_blob_into(&d, &mut &data[..], Some(&repo))
            .expect("put");
        reg.fs().sync().expect("sync");
    };
    // Warm-up puts, as fsbench's large blob and earlier puts leave a tree.
    for i in 0..64 {
        put(&mut reg, i);
    }
    let (s0, c0) = (reg.fs().node_cache_stats(), cowbtree::node_checksums());
    for i in 64..64 + n {
        put(&mut reg, i);
    }
    let (s1, c1) = (reg.fs().node_cache_stats(), cowbtree::node_checksums());
    let per = |x: u64| x as f64 / n as f64;
    println!(
        "{n} puts after 64, per put: {:.1} node checksums, {:.1} node cache hits, {:.1} misses",
        per(c1 - c0),
        per(s1.hits - s0.hits),
        per(s1.misses - s0.misses)
    );
}
