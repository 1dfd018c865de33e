//! A `deferred` operation: the dispatch hands the server a `Pending` and
//! answers nothing; the server answers later through it, with the declared
//! reply or error type, and can still read the caller's leases meanwhile.
mod support;

use abi::iface::{CallError, Dispatched};
use support::{client, demo, DemoError, DemoServer, FakeCaller};

#[test]
fn the_reply_comes_when_the_server_completes() {
    let c = client();
    // The loopback completes deferred calls after the dispatch returned.
    assert_eq!(c.later(4, &[5, 6]), Ok(4 * 10 + 5 + 2));
    assert_eq!(
        c.later(0, &[5]),
        Err(CallError::Service(DemoError::Empty {}))
    );
}

#[test]
fn dispatch_answers_nothing_for_a_deferred_call() {
    let mut server = DemoServer::default();
    let data = [3u8; 4];
    let mut msg = abi::Message::new(demo::label::later, &[2]);
    msg.leases[0] = abi::iface::lend(&data);
    let (caller, slot) = FakeCaller::new(&msg);
    assert!(matches!(
        demo::dispatch(&mut server, 1, caller, &msg),
        Dispatched::Deferred
    ));
    assert!(
        slot.borrow().is_none(),
        "no reply before the server completes"
    );
    assert_eq!(server.pending.len(), 1);
    server.complete_all();
    let reply = slot.borrow_mut().take().expect("answered");
    assert_eq!((reply.label, reply.words[0]), (0, 2 * 10 + 3 + 4));
}

#[test]
fn a_deferred_call_with_a_bad_lease_is_refused_at_once() {
    let mut server = DemoServer::default();
    let msg = abi::Message::new(demo::label::later, &[2]);
    let (caller, _slot) = FakeCaller::new(&msg);
    assert!(matches!(
        demo::dispatch(&mut server, 1, caller, &msg),
        Dispatched::Reply(_, r) if r.label >= abi::iface::REFUSED_BASE
    ));
    assert!(server.pending.is_empty());
}
