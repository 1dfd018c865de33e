//! Messages no client stub would send, straight to the dispatch: each is
//! answered with a typed refusal naming the values seen; the server's
//! methods never run and nothing panics.
mod support;

use abi::iface::{lend, lend_mut, reply_result, CallError, Dispatched, Refused};
use abi::{Lease, Message};
use support::{client, demo, DemoError, DemoServer, FakeCaller, Triple, MAX_IN};

/// The refusal the dispatch answers `msg` with (the server not called).
fn refusal(msg: &Message) -> Refused {
    let mut server = DemoServer::default();
    let (caller, _slot) = FakeCaller::new(msg);
    let reply = match demo::dispatch(&mut server, 1, caller, msg) {
        Dispatched::Reply(_, reply) => reply,
        Dispatched::Deferred => panic!("a refused call is answered at once"),
    };
    assert_eq!(server.calls, 0, "the server must not see a refused call");
    match reply_result::<Triple, DemoError>(&reply) {
        Err(CallError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn unknown_operations() {
    for label in [0, 8, 1000, u64::MAX] {
        assert_eq!(
            refusal(&Message::new(label, &[])),
            Refused::UnknownOperation { label }
        );
    }
}

#[test]
fn argument_words_out_of_their_type() {
    // a: u32 gets 2^32.
    assert_eq!(
        refusal(&Message::new(demo::label::add, &[1 << 32, 0, 0])),
        Refused::BadArgument {
            index: 0,
            value: 1 << 32
        }
    );
    // wrap: bool gets 2.
    assert_eq!(
        refusal(&Message::new(demo::label::add, &[1, 1, 2])),
        Refused::BadArgument { index: 2, value: 2 }
    );
    // value: u8 gets 256.
    let mut out = [0u8; 4];
    let mut msg = Message::new(demo::label::fill, &[256]);
    msg.leases[1] = lend_mut(&mut out);
    assert_eq!(
        refusal(&msg),
        Refused::BadArgument {
            index: 0,
            value: 256
        }
    );
}

#[test]
fn missing_leases() {
    // No lease at all, and a zero-length one.
    assert_eq!(
        refusal(&Message::new(demo::label::sum_bytes, &[])),
        Refused::MissingLease { index: 0 }
    );
    let mut msg = Message::new(demo::label::sum_bytes, &[]);
    msg.leases[0] = lend(&[]);
    assert_eq!(refusal(&msg), Refused::MissingLease { index: 0 });
    // The buffer in the wrong slot: `fill` writes lease 1.
    let mut out = [0u8; 4];
    let mut msg = Message::new(demo::label::fill, &[1]);
    msg.leases[0] = lend_mut(&mut out);
    assert_eq!(refusal(&msg), Refused::MissingLease { index: 1 });
}

#[test]
fn leases_with_the_wrong_permission() {
    let data = [1u8; 4];
    // `fill` needs to write lease 1; it is lent read-only.
    let mut msg = Message::new(demo::label::fill, &[1]);
    msg.leases[1] = lend(&data);
    assert_eq!(
        refusal(&msg),
        Refused::LeaseNotPermitted {
            index: 1,
            flags: abi::lease::READ,
            needs: abi::lease::WRITE
        }
    );
    // `increment` needs both.
    let mut msg = Message::new(demo::label::increment, &[]);
    msg.leases[0] = lend(&data);
    assert!(matches!(
        refusal(&msg),
        Refused::LeaseNotPermitted { index: 0, .. }
    ));
    // Flags with neither bit.
    let mut msg = Message::new(demo::label::sum_bytes, &[]);
    msg.leases[0] = Lease {
        addr: 0,
        len: 4,
        flags: 0,
    };
    assert!(matches!(
        refusal(&msg),
        Refused::LeaseNotPermitted {
            index: 0,
            flags: 0,
            ..
        }
    ));
}

#[test]
fn oversized_leases() {
    let big = vec![0u8; MAX_IN as usize + 1];
    let mut msg = Message::new(demo::label::sum_bytes, &[]);
    msg.leases[0] = lend(&big);
    assert_eq!(
        refusal(&msg),
        Refused::LeaseTooLong {
            index: 0,
            len: MAX_IN + 1,
            max: MAX_IN
        }
    );
    // A length no buffer has: refused before anything is copied.
    msg.leases[0].len = u64::MAX;
    assert!(matches!(
        refusal(&msg),
        Refused::LeaseTooLong { len: u64::MAX, .. }
    ));
}

#[test]
fn the_client_refuses_an_oversized_buffer_without_calling() {
    let c = client();
    let big = vec![0u8; MAX_IN as usize + 1];
    assert_eq!(
        c.sum_bytes(&big),
        Err(CallError::Refused(Refused::LeaseTooLong {
            index: 0,
            len: MAX_IN + 1,
            max: MAX_IN
        }))
    );
    assert_eq!(c.transport.server.borrow().calls, 0);
}

#[test]
fn an_empty_buffer_is_refused_by_the_service() {
    let c = client();
    assert_eq!(
        c.sum_bytes(&[]),
        Err(CallError::Refused(Refused::MissingLease { index: 0 }))
    );
}

#[test]
fn refusals_round_trip_through_their_reply() {
    for r in [
        Refused::UnknownOperation { label: 5 },
        Refused::BadArgument { index: 3, value: 9 },
        Refused::MissingLease { index: 1 },
        Refused::LeaseTooLong {
            index: 0,
            len: 9,
            max: 8,
        },
        Refused::LeaseNotPermitted {
            index: 1,
            flags: 1,
            needs: 2,
        },
    ] {
        let m = r.to_message();
        assert_eq!(Refused::from_reply(m.label, &m.words), r);
    }
}
