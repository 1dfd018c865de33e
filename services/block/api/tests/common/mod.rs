//! The block service's logic under the fake kernel (`block_server::served`):
//! clients with their own badges calling one in-process `Service` over a
//! memory disk.
#![allow(dead_code, unused_imports)]

use std::cell::RefCell;

use abi::fake::{self, FakeCaller, Serve};
use abi::Message;
use block::Config;
use block_api::block_store;
pub use block_server::served::{client, Badged, Svc};

/// A formatted store of `blocks` blocks, served.
pub fn service(blocks: u64) -> RefCell<Svc> {
    let config = Config {
        cache_blocks: 256,
        journal_blocks: 256,
        group_commit_blocks: 64,
    };
    block_server::served::service_with(blocks, config)
}

pub fn stub(server: &RefCell<Svc>, badge: u64) -> block_store::Client<Badged<'_>> {
    block_store::Client::new(Badged { server, badge })
}

/// A `begin` from `badge` that may be deferred: the slot its answer lands
/// in (empty while it waits).
pub fn begin_call(server: &RefCell<Svc>, badge: u64) -> fake::ReplySlot {
    let msg = Message::new(block_store::label::begin, &[]);
    let (caller, slot) = FakeCaller::new(&msg);
    server.borrow_mut().dispatch(badge, caller, &msg).send();
    slot
}

/// `key=value` from the service's `counters block:` line.
pub fn counter(text: &str, key: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("counters block:"))
        .unwrap_or_else(|| panic!("no counters line in {text}"));
    line.split(' ')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

/// Block `b`'s image as transaction `t` wrote it (the power-cut tests':
/// the transaction's number in its first 8 bytes).
pub fn image(b: u64, t: u64) -> Vec<u8> {
    let mut v = testkit::noise(b.wrapping_mul(10_000).wrapping_add(t), block::BLOCK_SIZE);
    v[..8].copy_from_slice(&t.to_le_bytes());
    v
}

/// Every crash state of a recorded run: cut at every flush, just before
/// the first and third, and at 40 sampled points, each cut with the
/// unflushed writes dropped, kept and torn at random; `check` gets the
/// recovered disk, the cut and a label. Returns the states checked.
pub fn every_cut_state(
    device: &testkit::RecordingDevice,
    seed: u64,
    salt: u64,
    mut check: impl FnMut(Vec<u8>, usize, &str),
) -> usize {
    use testkit::{crash_image, CutMode, Cuts, SplitMix};
    let mut rng = SplitMix(seed ^ salt);
    let cuts = Cuts::at_flushes(device)
        .before_flushes(1)
        .before_flushes(3)
        .random(40, &mut rng);
    let mut states = 0;
    for cut in cuts.to_vec() {
        for (mode, rseed) in [
            (CutMode::DropAll, 0),
            (CutMode::KeepAll, 0),
            (CutMode::Random, seed * 1000 + cut as u64),
        ] {
            let what = format!("seed {seed}, cut {cut}, {mode:?} {rseed}");
            check(crash_image(device, cut, mode, rseed), cut, &what);
            states += 1;
        }
    }
    states
}

/// Mounts a recovered `disk` and checks what every power-cut test of the
/// commit path shares: root slot 0 names one whole transaction `t` (its
/// marker: `t`, then the unjournaled run it wrote and its length), not
/// older than the last Durable commit that returned before `cut`
/// (`durable`: ops recorded when it returned, its transaction), and that
/// run holds `image(fresh_seed - k, t)`. `None`: nothing was ever
/// committed there, and no Durable commit was lost.
pub fn recovered(
    disk: Vec<u8>,
    config: Config,
    durable: &[(usize, u64)],
    cut: usize,
    fresh_seed: u64,
    what: &str,
) -> Option<(block::BlockStore<block::MemDevice>, u64)> {
    use block::{BlockStore, MemDevice, Transactional, BLOCK_SIZE};
    let mut store = BlockStore::mount(MemDevice::from_image(disk), config)
        .unwrap_or_else(|e| panic!("{what}: mount: {e}"));
    let mut buf = vec![0u8; BLOCK_SIZE];
    store.read(store.root_block(0), &mut buf).unwrap();
    let floor = durable
        .iter()
        .filter(|(at, _)| *at <= cut)
        .map(|(_, t)| *t)
        .max();
    if buf.iter().all(|&x| x == 0) {
        assert_eq!(floor, None, "{what}: a durable commit was lost");
        return None;
    }
    let t = u64::from_le_bytes(buf[..8].try_into().unwrap());
    assert!(
        floor.is_none_or(|f| t >= f),
        "{what}: found {t}, durable {floor:?}"
    );
    if t > 0 {
        let fresh = u64::from_le_bytes(buf[8..16].try_into().unwrap());
        let n = u64::from_le_bytes(buf[16..24].try_into().unwrap());
        for k in 0..n {
            store.read(fresh + k, &mut buf).unwrap();
            assert!(
                buf == image(fresh_seed - k, t),
                "{what}: transaction {t}'s unjournaled block {} is not its data",
                fresh + k
            );
        }
    }
    Some((store, t))
}
