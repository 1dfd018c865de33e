//! Every operation shape of the `demo` interface through its client stub,
//! the fake kernel and the dispatch: typed arguments in, typed replies out,
//! leases read, written and both.
mod support;

use support::{client, Triple};

#[test]
fn no_arguments_and_unit_reply() {
    let c = client();
    assert_eq!(c.ping(), Ok(()));
    assert_eq!(c.transport.server.borrow().calls, 1);
}

#[test]
fn typed_arguments_and_a_multi_word_reply() {
    let c = client();
    assert_eq!(
        c.add(u32::MAX, 1, true),
        Ok(Triple {
            sum: 1 << 32,
            small: 0,
            flag: true
        })
    );
    assert_eq!(
        c.add(200, 58, false),
        Ok(Triple {
            sum: 258,
            small: 2,
            flag: false
        })
    );
}

#[test]
fn a_read_lease_reaches_the_server() {
    let c = client();
    assert_eq!(c.sum_bytes(&[1, 2, 3, 250]), Ok(256));
}

#[test]
fn a_write_lease_is_filled_by_the_server() {
    let c = client();
    let mut out = [0u8; 10];
    assert_eq!(c.fill(7, &mut out), Ok(10));
    assert_eq!(out, [7; 10]);
}

#[test]
fn a_read_write_lease_goes_both_ways() {
    let c = client();
    let mut buf = [0u8, 9, 255];
    assert_eq!(c.increment(&mut buf), Ok(()));
    assert_eq!(buf, [1, 10, 0]);
}

#[test]
fn a_four_word_value_crosses_whole() {
    let c = client();
    let hash: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    let mut back = hash;
    back.reverse();
    assert_eq!(c.name(hash), Ok(back));
}

#[test]
fn labels_are_the_declared_ones() {
    use support::demo::label;
    assert_eq!((label::ping, label::add, label::later), (1, 2, 7));
}
