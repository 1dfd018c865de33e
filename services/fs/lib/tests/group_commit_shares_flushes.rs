//! Group commit's cost, counted (deterministic, never timed): N small
//! durable puts one at a time cost two device flushes each (fresh data,
//! then the journal record); the same N puts committed in group mode and
//! made durable by one sync cost the two flushes of that sync, so
//! `flushes_per_small_put` is 2/N. Operations batched by design (an upload
//! step) are not counted as owed. A group whose last put commits durably
//! (the server saw nothing queued behind it) costs the same flushes and
//! no sync.

mod common;

use filesystem::group::{Group, Limits, Next};
use filesystem::{Algorithm, Registry};

fn flushes(reg: &mut Registry<common::Store>) -> u64 {
    reg.fs().device_mut().stats().device_flushes
}

fn put(reg: &mut Registry<common::Store>, i: u64) {
    common::small_put(reg, i);
}

fn every_put_is_there(reg: &mut Registry<common::Store>, n: u64) {
    for i in 0..n {
        let d = common::sha256(&common::small_blob(i));
        assert_eq!(
            reg.read_blob(&d, 1 << 20).unwrap(),
            Some(common::small_blob(i))
        );
    }
}

#[test]
fn one_durable_put_at_a_time_costs_two_flushes_each() {
    let mut reg = common::fresh_registry(8192);
    let before = flushes(&mut reg);
    for i in 0..8 {
        put(&mut reg, i);
    }
    assert_eq!(flushes(&mut reg) - before, 2 * 8);
    assert_eq!(reg.fs().unsynced_operations(), 0);
}

#[test]
fn a_group_of_puts_costs_the_two_flushes_of_one_sync() {
    for n in [1u64, 4, 16] {
        let mut reg = common::fresh_registry(8192);
        reg.fs().set_group_commit(true);
        let before = flushes(&mut reg);
        for i in 0..n {
            put(&mut reg, i);
            assert_eq!(reg.fs().unsynced_operations(), i + 1);
        }
        assert_eq!(flushes(&mut reg), before, "no flush before the sync");
        reg.fs().sync().unwrap();
        assert_eq!(reg.fs().unsynced_operations(), 0);
        let spent = flushes(&mut reg) - before;
        assert_eq!(spent, 2, "{n} puts");
        let per_put = spent as f64 / n as f64;
        assert!(per_put <= 2.0 / n as f64 + 1e-9, "{n} puts: {per_put}");
        every_put_is_there(&mut reg, n);
    }
}

#[test]
fn a_sync_with_nothing_owed_costs_no_flush() {
    let mut reg = common::fresh_registry(8192);
    reg.fs().set_group_commit(true);
    put(&mut reg, 0);
    reg.fs().sync().unwrap();
    let before = flushes(&mut reg);
    reg.fs().sync().unwrap();
    assert_eq!(flushes(&mut reg), before);
}

#[test]
fn upload_steps_are_batched_by_design_and_owe_nothing() {
    let mut reg = common::fresh_registry(8192);
    reg.fs().set_group_commit(true);
    let mut up = reg.begin_upload(None, Algorithm::Sha256).unwrap();
    // begin_upload is a promise (its session is durable when it returns):
    let owed = reg.fs().unsynced_operations();
    reg.upload_write(&mut up, &common::noise(3, 5 << 20))
        .unwrap();
    assert_eq!(reg.fs().unsynced_operations(), owed, "a step owes nothing");
    reg.abort_upload(up).unwrap();
}

#[test]
fn a_group_closed_by_its_last_puts_durable_commit_costs_the_same_flushes_and_no_sync() {
    let small = Next {
        maintenance: false,
        lease_bytes: 4096,
    };
    for n in [1u64, 4, 16] {
        let mut reg = common::fresh_registry(8192);
        reg.fs().set_group_commit(true);
        let mut group = Group::new(Limits::default());
        let before = flushes(&mut reg);
        let mut sent = Vec::new();
        // As the server's loop: one request of lookahead.
        for i in 0..n {
            let next = (i + 1 < n).then_some(small);
            let closing = group.closes_after(small, next);
            assert_eq!(closing, i + 1 == n, "put {i} of {n}");
            reg.fs().set_group_closing(closing);
            put(&mut reg, i);
            reg.fs().set_group_closing(false);
            let owed = reg.fs().unsynced_operations();
            if closing {
                assert_eq!(owed, 0, "the durable commit paid what was owed");
            } else {
                assert_eq!(owed, i + 1);
                assert_eq!(flushes(&mut reg), before, "no flush before the last");
            }
            sent.extend(group.after(i, owed));
            if closing && owed == 0 {
                sent.extend(group.close_committed());
            }
        }
        // One put alone owes nothing once committed: its reply goes at
        // once, no group opened.
        assert_eq!(sent, (0..n).collect::<Vec<_>>());
        assert!(!group.is_open());
        assert_eq!(group.stats().by_commit, u64::from(n > 1));
        assert_eq!(flushes(&mut reg) - before, 2, "{n} puts");
        // Nothing more to sync: a sync now costs no flush.
        let at = flushes(&mut reg);
        reg.fs().sync().unwrap();
        assert_eq!(flushes(&mut reg), at);
        every_put_is_there(&mut reg, n);
    }
}

#[test]
fn the_close_probe_is_asked_once_at_the_first_grouped_commit_and_not_by_a_read() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let mut reg = common::fresh_registry(8192);
    reg.fs().set_group_commit(true);
    put(&mut reg, 0);
    let asked = Arc::new(AtomicU64::new(0));
    let probe = |asked: &Arc<AtomicU64>| -> filesystem::fs::GroupCloseProbe {
        let asked = asked.clone();
        Box::new(move || {
            asked.fetch_add(1, Ordering::Relaxed);
            true
        })
    };
    // A read commits nothing: the probe is not asked, nothing changes.
    reg.fs().set_group_close_probe(Some(probe(&asked)));
    let d = common::sha256(&common::small_blob(0));
    assert!(reg.read_blob(&d, 1 << 20).unwrap().is_some());
    assert_eq!(asked.load(Ordering::Relaxed), 0);
    assert_eq!(reg.fs().unsynced_operations(), 1);
    // A put: asked at its commit, which is durable and pays what is owed.
    put(&mut reg, 1);
    assert_eq!(asked.load(Ordering::Relaxed), 1);
    assert_eq!(reg.fs().unsynced_operations(), 0);
    // Taken by that commit: the next put is batched and owed again.
    put(&mut reg, 2);
    assert_eq!(asked.load(Ordering::Relaxed), 1);
    assert_eq!(reg.fs().unsynced_operations(), 1);
    reg.fs().set_group_close_probe(None);
}
