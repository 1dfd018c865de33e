//! Handles are checked before use: another client's handle, a closed
//! (stale) handle, a handle of the wrong kind and made-up numbers are
//! `BadHandle`; port 0 is `BadPort`; a second listener on a port is
//! `PortInUse` until the first is closed; `close_all` closes exactly the
//! dead client's handles.

mod common;

use netstack::SockError;

#[test]
fn handles_are_checked() {
    let mut s = common::server();
    let (a, b) = (1u64, 2u64);
    assert_eq!(s.listen(a, 0, 4), Err(SockError::BadPort));
    let la = s.listen(a, 80, 4).unwrap();
    assert_eq!(s.listen(b, 80, 4), Err(SockError::PortInUse));
    let lb = s.listen(b, 81, 100).unwrap();

    // Another client's handle.
    assert_eq!(s.accept(b, la), Err(SockError::BadHandle));
    assert_eq!(s.close(b, la), Err(SockError::BadHandle));
    // The wrong kind: a listener is not a connection.
    assert_eq!(s.read(a, la, 10, |d| d.len()), Err(SockError::BadHandle));
    assert_eq!(s.write(a, la, 10, |d| d.len()), Err(SockError::BadHandle));
    // Made-up numbers.
    for h in [u64::MAX, 12345, la + (1 << 32)] {
        assert_eq!(s.accept(a, h), Err(SockError::BadHandle), "handle {h:#x}");
    }
    // Nothing to accept yet: would wait.
    assert_eq!(s.accept(a, la), Ok(None));
    assert!(!s.is_ready(a, la, false));

    // Closed: stale, even after the slot is reused.
    s.close(a, la).unwrap();
    assert_eq!(s.accept(a, la), Err(SockError::BadHandle));
    let la2 = s.listen(a, 80, 1).unwrap();
    assert_ne!(la, la2);
    assert_eq!(s.accept(a, la), Err(SockError::BadHandle));
    assert_eq!(s.accept(a, la2), Ok(None));

    // A dead client's handles go; the other's stay.
    assert_eq!(s.close_all(a), 1);
    assert_eq!(s.accept(a, la2), Err(SockError::BadHandle));
    assert_eq!(s.accept(b, lb), Ok(None));
    assert_eq!(s.handles(b), vec![lb]);
    assert_eq!(s.counts().0, 1);
}
