//! `commit_armed`: a holder's commit arms its next transaction, so its
//! `begin` makes no call; the transaction opens at the first call of the
//! holder or its delegate that goes into it (a small put's: the content
//! service's allocation), held and delegated as `begin_delegated` opens
//! it. The arming is bounded: it never opens a transaction over another
//! client's (refused, not waiting), a call naming an ended transaction is
//! still stale, and an abort, an explicit begin or the holder's death end
//! it.

mod common;

use std::cell::RefCell;

use abi::iface::CallError;
use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::{block_store, BlockClient, BlockError};
use common::{Badged, Svc};

type Client<'a> = BlockClient<Badged<'a>>;

/// The holder (badge 1, delegating to badge 2, armed begins) after one
/// committed transaction, so its next one is armed; and the delegate.
fn armed_after_one_commit(server: &RefCell<Svc>) -> (Client<'_>, Client<'_>) {
    let mut holder = common::client(server, 1);
    holder.set_delegate(Some(2));
    holder.set_armed_begin(true);
    let delegate = common::client(server, 2);
    holder.begin().unwrap();
    holder
        .write(holder.root_block(0), &[1; BLOCK_SIZE])
        .unwrap();
    holder.commit(Durability::Durable).unwrap();
    (holder, delegate)
}

#[test]
fn the_delegates_first_call_opens_the_armed_transaction() {
    let server = common::service(512);
    let mut holder = common::client(&server, 1);
    holder.set_delegate(Some(2));
    holder.set_armed_begin(true);
    let mut delegate = common::client(&server, 2);
    let slot = holder.root_block(3);

    // The first transaction is begun by a call; its commit arms the next.
    holder.begin().unwrap();
    holder.write(slot, &[1; BLOCK_SIZE]).unwrap();
    holder.commit(Durability::Durable).unwrap();
    assert_eq!(holder.calls_of(block_store::label::begin_delegated), 1);
    assert_eq!(holder.calls_of(block_store::label::commit_armed), 1);

    for round in 2..6u8 {
        let calls = holder.counters().calls();
        holder.begin().unwrap();
        assert_eq!(holder.counters().calls(), calls, "begin made no call");
        assert_eq!(
            server.borrow().0.open_transaction(),
            None,
            "nothing open yet"
        );
        // The content service's request: its allocation opens it.
        let e = delegate.allocate(1).unwrap();
        let tx = server.borrow().0.open_transaction().expect("opened");
        assert_eq!(delegate.transaction(), tx);
        delegate.write(e.start, &[round; BLOCK_SIZE]).unwrap();
        delegate.send_gathered().unwrap();
        holder.write(slot, &[round; BLOCK_SIZE]).unwrap();
        holder.commit(Durability::Durable).unwrap();
        assert_eq!(server.borrow().0.open_transaction(), None);
        let mut buf = vec![0u8; BLOCK_SIZE];
        holder.read(e.start, &mut buf).unwrap();
        assert!(
            buf.iter().all(|&b| b == round),
            "the delegate's write is in"
        );
        holder.read(slot, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == round), "the holder's write is in");
    }
    assert_eq!(holder.calls_of(block_store::label::begin_delegated), 1);
    assert_eq!(holder.calls_of(block_store::label::commit_armed), 5);
    // Each transaction cost the holder one call: its commit.
    let c = holder.counters();
    assert_eq!(
        c.calls() - c.read,
        1 + 1 + 5,
        "info, one begin, five commits"
    );
}

#[test]
fn the_holders_own_first_call_opens_it_and_an_empty_one_commits_unarmed() {
    let server = common::service(512);
    let mut holder = common::client(&server, 1);
    holder.set_delegate(Some(2));
    holder.set_armed_begin(true);
    holder.begin().unwrap();
    holder
        .write(holder.root_block(0), &[1; BLOCK_SIZE])
        .unwrap();
    holder.commit(Durability::Batched).unwrap();

    // Its allocation opens it.
    holder.begin().unwrap();
    let e = holder.allocate(2).unwrap();
    assert!(holder.transaction() > 0, "the answer named it");
    holder.write(e.start, &[7; 2 * BLOCK_SIZE]).unwrap();
    holder.commit(Durability::Durable).unwrap();
    // Nothing in it at all: the commit opens and commits it.
    holder.begin().unwrap();
    holder
        .write(holder.root_block(0), &[1; BLOCK_SIZE])
        .unwrap();
    holder.commit(Durability::Durable).unwrap();
    assert_eq!(server.borrow().0.open_transaction(), None);
    assert_eq!(holder.calls_of(block_store::label::begin_delegated), 1);
    let mut buf = vec![0u8; 2 * BLOCK_SIZE];
    holder.read(e.start, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 7));
}

#[test]
fn an_abort_ends_the_arming_and_the_next_begin_is_a_call() {
    let server = common::service(512);
    let (mut holder, mut delegate) = armed_after_one_commit(&server);

    // Armed, never opened, aborted: the delegate can open nothing now.
    holder.begin().unwrap();
    holder.abort();
    assert_eq!(
        delegate.allocate(1).map(|_| ()),
        Err(block::Error::NoTransaction)
    );
    assert_eq!(server.borrow().0.open_transaction(), None);
    holder.begin().unwrap();
    assert_eq!(holder.calls_of(block_store::label::begin_delegated), 2);
    let tx = holder.transaction();
    assert_eq!(server.borrow().0.open_transaction(), Some(tx));

    // Opened by the delegate, then aborted: its writes are gone.
    holder
        .write(holder.root_block(0), &[1; BLOCK_SIZE])
        .unwrap();
    holder.commit(Durability::Durable).unwrap();
    holder.begin().unwrap();
    let e = delegate.allocate(1).unwrap();
    delegate.write(e.start, &[9; BLOCK_SIZE]).unwrap();
    delegate.send_gathered().unwrap();
    holder.abort();
    assert_eq!(server.borrow().0.open_transaction(), None);
    holder.begin().unwrap();
    assert!(
        !holder.is_allocated(e.start).unwrap(),
        "the aborted allocation is free again"
    );
    holder.commit(Durability::Durable).unwrap();
}

#[test]
fn an_armed_open_never_takes_another_clients_turn() {
    let server = common::service(512);
    let mut holder = common::client(&server, 1);
    holder.set_delegate(Some(2));
    holder.set_armed_begin(true);
    let mut delegate = common::client(&server, 2);
    let mut other = common::client(&server, 3);
    holder.begin().unwrap();
    let first = holder.transaction();
    holder
        .write(holder.root_block(0), &[1; BLOCK_SIZE])
        .unwrap();
    holder.commit(Durability::Durable).unwrap();

    // Armed, and another client begins: it gets the store at once.
    other.begin().unwrap();
    let theirs = other.transaction();
    holder.begin().unwrap();
    let stub2 = common::stub(&server, 2);
    match stub2.allocate(0, 1) {
        Err(CallError::Service(e)) => assert_eq!(e, BlockError::NotOwner { owner: 3 }),
        other => panic!("expected NotOwner, got {other:?}"),
    }
    // A call naming an ended transaction is stale, armed or not.
    match stub2.allocate(first, 1) {
        Err(CallError::Service(e)) => assert_eq!(
            e,
            BlockError::StaleTransaction {
                tx: first,
                open: theirs
            }
        ),
        other => panic!("expected StaleTransaction, got {other:?}"),
    }
    holder.abort();
    other.commit(Durability::Durable).unwrap();
    assert_eq!(
        delegate.allocate(1).map(|_| ()),
        Err(block::Error::NoTransaction)
    );
}

#[test]
fn the_holders_death_ends_the_arming() {
    let server = common::service(512);
    let (_holder, mut delegate) = armed_after_one_commit(&server);
    server.borrow_mut().0.client_died(1);
    assert_eq!(
        delegate.allocate(1).map(|_| ()),
        Err(block::Error::NoTransaction)
    );
    assert_eq!(server.borrow().0.open_transaction(), None);
}
