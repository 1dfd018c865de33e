//! A fake serving only part of `demo` (`demo::PartialServer`), through the
//! real dispatch and the real client stub: what it serves answers as from
//! a full server; every other operation, the deferred one too, is answered
//! at once with the interface's answer for a label it does not declare
//! (`Refused::UnknownOperation`), never a panic or a service error.
mod support;

use abi::iface::{lend, CallError, Dispatched, PartialError, Refused};
use abi::Message;
use support::{demo, DemoError, FakeCaller, Loopback, Triple};

/// Serves `add`, and only without `wrap` (as an older service would).
#[derive(Default)]
struct OnlyAdd {
    calls: u64,
}

impl demo::PartialServer<FakeCaller> for OnlyAdd {
    fn add(
        &mut self,
        _badge: u64,
        a: u32,
        b: u32,
        wrap: bool,
    ) -> Result<Triple, PartialError<DemoError>> {
        self.calls += 1;
        if wrap {
            return Err(PartialError::NotServed);
        }
        let sum = u32::checked_add(a, b).ok_or(DemoError::TooBig {
            value: u64::from(a) + u64::from(b),
            max: u64::from(u32::MAX),
        })?;
        Ok(Triple {
            sum: sum.into(),
            small: sum as u8,
            flag: false,
        })
    }
}

abi::serve_with!(OnlyAdd, demo);

fn client() -> demo::Client<Loopback<OnlyAdd>> {
    demo::Client::new(Loopback::new(OnlyAdd::default()))
}

/// The refusal a call failed with.
fn refused<R: core::fmt::Debug, E: core::fmt::Debug>(r: Result<R, CallError<E>>) -> Refused {
    match r {
        Err(CallError::Refused(refused)) => refused,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn unknown(label: u64) -> Refused {
    Refused::UnknownOperation { label }
}

#[test]
fn what_it_serves_answers_as_from_a_full_server() {
    let c = client();
    assert_eq!(
        c.add(200, 58, false),
        Ok(Triple {
            sum: 258,
            small: 2,
            flag: false
        })
    );
    // The service's own error still crosses with its values (`?` on it).
    assert_eq!(
        c.add(u32::MAX, 1, false),
        Err(CallError::Service(DemoError::TooBig {
            value: 1 << 32,
            max: u32::MAX.into()
        }))
    );
    assert_eq!(c.transport.server.borrow().calls, 2);
}

#[test]
fn every_operation_it_does_not_serve_is_refused_as_unknown() {
    let c = client();
    let mut out = [0u8; 4];
    let mut buf = [1u8; 4];
    assert_eq!(refused(c.ping()), unknown(demo::label::ping));
    assert_eq!(
        refused(c.sum_bytes(&[1, 2])),
        unknown(demo::label::sum_bytes)
    );
    assert_eq!(refused(c.fill(7, &mut out)), unknown(demo::label::fill));
    assert_eq!(
        refused(c.increment(&mut buf)),
        unknown(demo::label::increment)
    );
    assert_eq!(refused(c.name([9; 32])), unknown(demo::label::name));
    assert_eq!(refused(c.count(&[])), unknown(demo::label::count));
    // Deferred: its default answers through the `Pending` at once.
    assert_eq!(refused(c.later(4, &[5])), unknown(demo::label::later));
    // The leases were not touched.
    assert_eq!((out, buf), ([0; 4], [1; 4]));
    assert_eq!(c.transport.server.borrow().calls, 0);
}

#[test]
fn a_served_method_may_refuse_one_call_as_unserved() {
    let c = client();
    assert_eq!(refused(c.add(1, 2, true)), unknown(demo::label::add));
    assert_eq!(c.transport.server.borrow().calls, 1);
}

#[test]
fn the_answer_is_the_one_for_a_label_the_interface_does_not_declare() {
    let answer = |msg: &Message| -> Message {
        let (caller, slot) = FakeCaller::new(msg);
        match demo::dispatch(&mut OnlyAdd::default(), 1, caller, msg) {
            Dispatched::Reply(_, reply) => reply,
            // The deferred default has answered through the caller.
            Dispatched::Deferred => slot.borrow_mut().take().expect("answered at once"),
        }
    };
    let undeclared = answer(&Message::new(8, &[]));
    assert_eq!(undeclared, unknown(8).to_message());
    let ping = Message::new(demo::label::ping, &[]);
    assert_eq!(answer(&ping), unknown(demo::label::ping).to_message());
    let data = [3u8; 4];
    let mut later = Message::new(demo::label::later, &[2]);
    later.leases[0] = lend(&data);
    assert_eq!(answer(&later), unknown(demo::label::later).to_message());
    // What a user reads.
    assert_eq!(
        CallError::<DemoError>::Refused(unknown(demo::label::ping)).to_string(),
        "request refused: the service has no operation 1 (client and service versions differ?)"
    );
}

#[test]
fn a_malformed_call_to_an_unserved_operation_gets_its_own_refusal() {
    // The arguments and leases are checked before the default runs.
    let msg = Message::new(demo::label::name, &[0; 6]);
    let mut fill = Message::new(demo::label::fill, &[256]);
    let mut out = [0u8; 4];
    fill.leases[1] = abi::iface::lend_mut(&mut out);
    let reply = abi::fake::serve(&mut OnlyAdd::default(), 1, &fill).unwrap();
    assert_eq!(
        Refused::from_reply(reply.label, &reply.words),
        Refused::BadArgument {
            index: 0,
            value: 256
        }
    );
    // A well-formed one is refused as unserved.
    let reply = abi::fake::serve(&mut OnlyAdd::default(), 1, &msg).unwrap();
    assert_eq!(reply, unknown(demo::label::name).to_message());
}
