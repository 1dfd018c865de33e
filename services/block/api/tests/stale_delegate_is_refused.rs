//! Delegation is bound to the transaction: a delegate's write that names a
//! transaction that has ended is refused with `StaleTransaction` (even when
//! the same holder delegated its next transaction to it again), a client
//! that was never delegated gets `NotOwner`, and nothing refused lands.

mod common;

use abi::iface::CallError;
use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::BlockError;

#[test]
fn stale_delegate_is_refused() {
    let server = common::service(512);
    let mut holder = common::client(&server, 1);
    holder.set_delegate(Some(2));
    let mut delegate = common::client(&server, 2);
    let slot = holder.root_block(3);

    holder.begin().unwrap();
    let first = holder.transaction();
    delegate.write(slot, &[1; BLOCK_SIZE]).unwrap();
    assert_eq!(delegate.transaction(), first, "the delegate learned it");
    holder.commit(Durability::Durable).unwrap();

    // The next transaction, delegated to the same client again.
    holder.begin().unwrap();
    let second = holder.transaction();
    assert!(second > first);
    let stub2 = common::stub(&server, 2);
    match stub2.write(first, slot, &[2; BLOCK_SIZE]) {
        Err(CallError::Service(e)) => assert_eq!(
            e,
            BlockError::StaleTransaction {
                tx: first,
                open: second
            }
        ),
        other => panic!("expected StaleTransaction, got {other:?}"),
    }
    // Through the trait, the late write (still naming the first) fails too:
    // the client gathers it, and sending it at the end of the request
    // (`send_gathered`) is refused.
    assert_eq!(
        delegate
            .write(slot, &[2; BLOCK_SIZE])
            .and_then(|()| delegate.send_gathered()),
        Err(block::Error::NoTransaction)
    );
    // Its next request learns the open transaction.
    delegate.drop_gathered();
    delegate.write(slot + 1, &[3; BLOCK_SIZE]).unwrap();
    assert_eq!(delegate.transaction(), second);

    // Never delegated: refused, naming the holder.
    let stub3 = common::stub(&server, 3);
    match stub3.allocate(0, 1) {
        Err(CallError::Service(e)) => assert_eq!(e, BlockError::NotOwner { owner: 1 }),
        other => panic!("expected NotOwner, got {other:?}"),
    }
    holder.commit(Durability::Durable).unwrap();

    let mut buf = vec![0u8; BLOCK_SIZE];
    holder.read(slot, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 1), "the stale write did not land");
    holder.read(slot + 1, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 3));
}
