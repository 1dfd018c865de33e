//! The small-put workload of `fs_small_put_ops` over the block service's
//! logic, for a profiler: as `small_put_profile`, but the filesystem (and
//! the in-process content store) talk to `block_server::Service` through
//! the real `block_api::BlockClient` under the fake kernel, so the block
//! service's request handling (lease copies, scattered writes, commits) is
//! in the profile too. 4 KiB registry blob puts with their repository
//! link, group commit on and a sync after each, as the fs service does for
//! one client.
//! `cargo run --release -p filesystem --example small_put_service_profile [N]`,
//! e.g. under `valgrind --tool=callgrind` (instruction counts do not
//! depend on the machine's load).

use block::Config;
use block_server::served;
use filesystem::digest::Hasher;
use filesystem::{Algorithm, Fs, Registry, RepoName};
use testkit::noise;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    // The block service's configuration (services/block/server/src/main.rs).
    let config = Config {
        cache_blocks: 2048,
        journal_blocks: 1024,
        group_commit_blocks: 256,
    };
    let server = served::service_with(65_536, config);
    let client = served::client(&server, 1);
    let mut reg = Registry::new(Fs::open(client, 0).expect("mkfs"));
    reg.fs().set_group_commit(true);
    let repo = RepoName::parse("bench/small").expect("repo");
    let put = |reg: &mut Registry<_>, i: u64| {
        let data = noise(0x5A11 + i, 4096);
        let d = Hasher::digest_of(Algorithm::Sha256, &data);
        reg.fs()
            .check_request_length("blob put", data.len() as u64)
            .expect("free space");
        reg.put_blob_into(&d, &mut &data[..], Some(&repo))
            .expect("put");
        reg.fs().sync().expect("sync");
    };
    for i in 0..64 {
        put(&mut reg, i);
    }
    let c0 = reg.fs().device().counters();
    for i in 64..64 + n {
        put(&mut reg, i);
    }
    let c1 = reg.fs().device().counters();
    println!(
        "{n} puts after 64: {} block calls ({:.2} per put)",
        c1.calls() - c0.calls(),
        (c1.calls() - c0.calls()) as f64 / n as f64
    );
}
