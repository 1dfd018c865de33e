//! A lease declared `may_be_empty` lets data of no bytes through (as a
//! lease of length 0), while its maximum and direction are still checked;
//! other leases still refuse an empty buffer.
mod support;

use abi::iface::{lend_mut, CallError, Refused};
use abi::Message;
use support::{client, demo, MAX_IN};

#[test]
fn empty_data_reaches_the_server() {
    let c = client();
    assert_eq!(c.count(&[]), Ok(0));
    assert_eq!(c.count(&[1, 2, 3]), Ok(3));
    assert_eq!(c.transport.server.borrow().calls, 2);
}

#[test]
fn the_maximum_still_holds() {
    let c = client();
    let big = vec![0u8; MAX_IN as usize + 1];
    assert_eq!(
        c.count(&big),
        Err(CallError::Refused(Refused::LeaseTooLong {
            index: 1,
            len: MAX_IN + 1,
            max: MAX_IN
        }))
    );
}

#[test]
fn a_non_empty_lease_still_needs_its_permission() {
    let c = client();
    let mut buf = [0u8; 4];
    let mut msg = Message::new(demo::label::count, &[]);
    msg.leases[1] = lend_mut(&mut buf);
    msg.leases[1].flags = abi::lease::WRITE;
    let reply = abi::iface::Transport::call(&c.transport, &msg).unwrap();
    assert_eq!(
        abi::iface::reply_result::<u64, support::DemoError>(&reply),
        Err(CallError::Refused(Refused::LeaseNotPermitted {
            index: 1,
            flags: abi::lease::WRITE,
            needs: abi::lease::READ
        }))
    );
}
