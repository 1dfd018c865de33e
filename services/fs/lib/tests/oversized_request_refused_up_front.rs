//! Scenario: a client announces a put (or append, or blob upload) longer
//! than the disk has free, or than the configured limit per request. It
//! must be refused before any work starts, with an error naming both
//! numbers, and nothing on the disk changes; a request that fits passes.

mod common;

use common::fresh_fs;
use filesystem::FsError;

#[test]
fn oversized_request_refused_up_front() {
    let mut fs = fresh_fs(8192);
    fs.write_file("/keep", b"still here").unwrap();
    let free = fs.stats().unwrap().free_bytes;

    let e = fs.check_request_length("put", 1 << 40).unwrap_err();
    assert!(
        matches!(e, FsError::NoRoom { len, free: f, .. } if len == 1 << 40 && f == free),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("put of 1099511627776 bytes") && text.contains(&format!("{free} bytes")),
        "{text}"
    );

    fs.set_request_limit(1_000_000);
    let e = fs.check_request_length("blob put", 2_000_000).unwrap_err();
    assert!(matches!(e, FsError::RequestTooLarge { .. }), "{e}");
    assert!(
        e.to_string().contains("limit per request is 1000000"),
        "{e}"
    );
    fs.check_request_length("append", 999_999).unwrap();
    fs.check_request_length("append", 0).unwrap();

    assert_eq!(fs.stats().unwrap().free_bytes, free, "a check wrote");
    assert_eq!(fs.read_file("/keep", 100).unwrap(), b"still here");
}
