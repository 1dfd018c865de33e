//! A service's typed error comes back in the same reply, with its values,
//! and reads as plain words.
mod support;

use abi::iface::{reply_message, reply_result, CallError, Refused, ServiceError};
use abi::Error;
use support::{client, DemoError, Triple};

#[test]
fn the_error_and_its_values_come_back_in_one_round_trip() {
    let c = client();
    let e = c.add(u32::MAX, 2, false).unwrap_err();
    assert_eq!(
        e,
        CallError::Service(DemoError::TooBig {
            value: (1 << 32) + 1,
            max: u32::MAX as u64
        })
    );
    assert_eq!(e.to_string(), "4294967297 is more than 4294967295");
    assert_eq!(
        c.transport.server.borrow().calls,
        1,
        "one call, no second fetch"
    );
}

#[test]
fn a_four_word_value_crosses_in_an_error() {
    let c = client();
    assert_eq!(
        c.name([0; 32]),
        Err(CallError::Service(DemoError::Named {
            hash: [0; 32],
            at: 7
        }))
    );
}

#[test]
fn every_error_variant_round_trips_through_a_reply() {
    for e in [
        DemoError::TooBig { value: 1, max: 0 },
        DemoError::Named {
            hash: [0xAB; 32],
            at: u64::MAX,
        },
        DemoError::Empty {},
    ] {
        let msg = reply_message::<u64, DemoError>(&Err(e));
        assert_eq!(msg.label, e.code());
        assert_eq!(
            reply_result::<u64, DemoError>(&msg),
            Err(CallError::Service(e))
        );
    }
}

#[test]
fn an_unknown_error_code_is_a_bad_reply_not_a_panic() {
    let msg = abi::Message::new(99, &[1, 2, 3]);
    assert_eq!(
        reply_result::<Triple, DemoError>(&msg),
        Err(CallError::Refused(Refused::BadReply { label: 99 }))
    );
    // A success whose words are not a valid reply (bool field = 7).
    let msg = abi::Message::new(0, &[1, 2, 7]);
    assert_eq!(
        reply_result::<Triple, DemoError>(&msg),
        Err(CallError::Refused(Refused::BadReply { label: 0 }))
    );
}

#[test]
fn kernel_errors_and_refusals_read_as_plain_words() {
    let dead: CallError<DemoError> = CallError::Kernel(Error::PeerDead);
    assert_eq!(
        dead.to_string(),
        "service unreachable: it has stopped (restart the system)"
    );
    let long: CallError<DemoError> = CallError::Refused(Refused::LeaseTooLong {
        index: 0,
        len: 100,
        max: 64,
    });
    assert_eq!(
        long.to_string(),
        "request refused: buffer 0 is 100 bytes, at most 64 are allowed"
    );
}
