//! A client that dies holding the transaction, or as its delegate, no
//! longer holds the service: the transaction is aborted (nothing it wrote
//! is visible), the `begin` waiting behind it is answered, and the holder
//! of a transaction aborted at its delegate's death is told why.

mod common;

use abi::iface::{reply_result, CallError};
use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::BlockError;
use block_server::Death;

fn block_of(c: &mut impl Transactional, b: u64) -> u8 {
    let mut buf = vec![0u8; BLOCK_SIZE];
    c.read(b, &mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == buf[0]));
    buf[0]
}

#[test]
fn dead_holder_or_delegate_frees_the_service() {
    let server = common::service(512);
    let mut holder = common::client(&server, 1);
    let mut other = common::client(&server, 3);
    let slot = holder.root_block(2);

    // The holder dies with a write in its transaction; 3's begin waits.
    holder.begin().unwrap();
    holder.write(slot, &[0x11; BLOCK_SIZE]).unwrap();
    let waiting = common::begin_call(&server, 3);
    assert!(waiting.borrow().is_none(), "begin waits while 1 holds");
    let died = server.borrow_mut().0.client_died(1);
    assert!(matches!(died, Death::Holder { .. }));
    let answer = waiting.borrow_mut().take().expect("begin answered");
    let tx = reply_result::<u64, BlockError>(&answer).expect("a transaction");
    assert_eq!(server.borrow().0.open_transaction(), Some(tx));
    assert_eq!(
        block_of(&mut other, slot),
        0,
        "the dead holder's write is gone"
    );
    let stub3 = common::stub(&server, 3);
    stub3.abort(tx).unwrap();

    // The delegate dies after writing in 1's transaction.
    let mut holder = common::client(&server, 1);
    holder.set_delegate(Some(2));
    holder.begin().unwrap();
    let mut delegate = common::client(&server, 2);
    delegate.write(slot, &[0x22; BLOCK_SIZE]).unwrap();
    delegate.send_gathered().unwrap();
    let waiting = common::begin_call(&server, 3);
    let died = server.borrow_mut().0.client_died(2);
    assert!(matches!(died, Death::Delegate { holder: 1, .. }));
    assert!(waiting.borrow().is_some(), "the waiting begin is answered");
    // The holder learns why, once, with the values.
    let stub1 = common::stub(&server, 1);
    match stub1.write(holder.transaction(), slot, &[0x33; BLOCK_SIZE]) {
        Err(CallError::Service(BlockError::Aborted { delegate: 2, .. })) => {}
        other => panic!("expected Aborted, got {other:?}"),
    }
    let tx3 = server.borrow().0.open_transaction().unwrap();
    stub3.commit(tx3, true).unwrap();
    assert_eq!(
        block_of(&mut other, slot),
        0,
        "the dead delegate's write is gone"
    );

    // The service goes on: the holder begins and commits anew.
    holder.set_delegate(None);
    holder.begin().unwrap();
    holder.write(slot, &[0x44; BLOCK_SIZE]).unwrap();
    holder.commit(Durability::Durable).unwrap();
    assert_eq!(block_of(&mut other, slot), 0x44);
}
