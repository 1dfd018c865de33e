//! The up-front free-space check over the real block client and service
//! (`filesystem::limits`): the block service answers its free count with
//! every commit, so after one the check of a request that fits costs no
//! call (it was one `free_blocks` call per small put, issue #13). A
//! request that does not fit on that count is decided on a count asked
//! for now: refused with `NoRoom` naming the real free bytes, never on a
//! stale count. Another holder's transactions since the fs's commit make
//! the count stale; then a request that no longer fits may pass the
//! check, and the allocation itself fails cleanly: nothing of the request
//! is kept, nothing else is lost, fsck is clean.

mod common;

use block::{Config, Durability, Extent, Transactional, BLOCK_SIZE};
use block_api::block_store::label;
use block_api::BlockClient;
use block_server::served::{self, Badged, Svc};
use filesystem::{Fs, FsError};

type Client<'a> = BlockClient<Badged<'a>>;

const BLOCKS: u64 = 8192;

fn served() -> core::cell::RefCell<Svc> {
    served::service_with(
        BLOCKS,
        Config {
            cache_blocks: 256,
            journal_blocks: 1024,
            group_commit_blocks: 256,
        },
    )
}

/// Every call the fs's block client made so far.
fn calls(fs: &Fs<Client<'_>>) -> u64 {
    fs.device().counters().calls()
}

#[test]
fn a_request_that_fits_is_checked_without_a_call_and_one_that_does_not_is_refused_on_a_fresh_count()
{
    let server = served();
    let mut fs = Fs::open(served::client(&server, 1), 0).unwrap();
    fs.write_file("/keep", b"still here").unwrap();

    let before = calls(&fs);
    fs.check_request_length("put", 4096).unwrap();
    fs.check_request_length("blob put", 1 << 20).unwrap();
    assert_eq!(calls(&fs), before, "the last commit's count answers");

    let free = fs.stats().unwrap().free_bytes;
    let asked = fs.device().calls_of(label::free_blocks);
    let e = fs.check_request_length("put", free + 1).unwrap_err();
    assert!(
        matches!(e, FsError::NoRoom { len, free: f, .. } if len == free + 1 && f == free),
        "{e}"
    );
    assert_eq!(
        fs.device().calls_of(label::free_blocks),
        asked + 1,
        "a refusal asks for the count now"
    );
    // With no other holder, the last commit's count is the real one.
    assert_eq!(
        fs.device().free_blocks_known(),
        Some(free / BLOCK_SIZE as u64)
    );
    assert_eq!(fs.read_file("/keep", 100).unwrap(), b"still here");
}

/// Another client of the block service takes `count` blocks in a
/// transaction of its own (the deployed system has none: there the fs
/// holds every transaction).
fn take(other: &mut Client<'_>, count: u64) -> Vec<Extent> {
    other.begin().unwrap();
    let mut got = Vec::new();
    let mut left = count;
    while left > 0 {
        let e = other.allocate(left.min(1024)).unwrap();
        left -= e.len;
        got.push(e);
    }
    other.commit(Durability::Durable).unwrap();
    got
}

fn give_back(other: &mut Client<'_>, extents: Vec<Extent>) {
    other.begin().unwrap();
    for e in extents {
        other.free(e).unwrap();
    }
    other.commit(Durability::Durable).unwrap();
}

#[test]
fn another_holders_transactions_never_cause_a_wrong_refusal_nor_a_loss() {
    let server = served();
    let mut fs = Fs::open(served::client(&server, 1), 0).unwrap();
    let mut other = served::client(&server, 2);
    fs.write_file("/keep", b"still here").unwrap();
    let known = fs.device().free_blocks_known().unwrap();

    // The other client leaves 128 blocks: the fs's count is stale (high).
    let taken = take(&mut other, known - 128);
    let big = 256 * BLOCK_SIZE as u64;
    // Passes on the stale count (a courtesy check)...
    fs.check_request_length("put", big).unwrap();
    // ...and the write itself fails cleanly: nothing of it is kept.
    // (Noise: the content store would store a run of one byte once.)
    let data = common::noise(0xB16, big as usize);
    let e = fs.write_file("/big", &data).unwrap_err();
    // The allocation's own error (from the content store's or the tree's).
    assert!(e.to_string().ends_with("NoSpace"), "{e}");
    assert!(matches!(
        fs.read_file("/big", 1),
        Err(FsError::NotFound { .. })
    ));
    assert_eq!(fs.read_file("/keep", 100).unwrap(), b"still here");
    // The failed transaction forgot the count: the next check asks, and
    // refuses on the real one.
    let e = fs.check_request_length("put", big).unwrap_err();
    assert!(
        matches!(e, FsError::NoRoom { free, .. } if free < big),
        "{e}"
    );

    // A commit of the fs learns the low count; the other client then gives
    // the space back: the count is stale (low), and the check confirms
    // before it refuses, so the request passes.
    fs.write_file("/small", b"x").unwrap();
    assert!(fs.device().free_blocks_known().unwrap() < 256);
    give_back(&mut other, taken);
    fs.check_request_length("put", big).unwrap();
    fs.write_file("/big", &data).unwrap();
    assert_eq!(fs.read_file("/big", 1 << 21).unwrap(), data);
    assert_eq!(fs.read_file("/keep", 100).unwrap(), b"still here");
    let report = fs.fsck(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
