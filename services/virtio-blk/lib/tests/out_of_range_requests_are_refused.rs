//! Requests past the end of the disk, of zero blocks, with a short lease or
//! one lent without the needed permission, with unknown flags, or
//! writing a read-only disk are refused at once with the values seen, and
//! nothing reaches the device.
mod support;

use abi::lease::{READ, WRITE};
use support::{lease, FakeDisk};
use virtio_blk_api::{status, BLOCK_SIZE};
use virtio_blk_sched::Scheduler;

#[test]
fn bad_requests_never_reach_the_device() {
    let mut dev = FakeDisk::new(64, 4);
    let mut s = Scheduler::new(dev.disk(false), 4, 2);
    let big = lease(1 << 30, READ | WRITE);
    s.submit_transfer(&mut dev, 1, false, 60, 5, 0, &big);
    s.submit_transfer(&mut dev, 2, false, u64::MAX, 2, 0, &big);
    s.submit_transfer(&mut dev, 3, true, 0, 0, 0, &big);
    s.submit_transfer(
        &mut dev,
        4,
        false,
        0,
        4,
        0,
        &lease(4 * BLOCK_SIZE - 1, WRITE),
    );
    s.submit_transfer(&mut dev, 5, false, 0, 1, 0, &lease(BLOCK_SIZE, READ));
    s.submit_transfer(&mut dev, 6, false, 0, 1, 0x80, &big);
    s.submit_batch(&mut dev, 7, 0, &[], &big);
    s.pump(&mut dev);
    assert!(dev.started().is_empty());
    assert_eq!(s.jobs_open(), 0);
    let codes: Vec<(u32, u64)> = dev
        .replies()
        .iter()
        .map(|(c, r)| (*c, r.unwrap_err().status))
        .collect();
    assert_eq!(
        codes,
        vec![
            (1, status::OUT_OF_RANGE),
            (2, status::OUT_OF_RANGE),
            (3, status::BAD_LENGTH),
            (4, status::BAD_LENGTH),
            (5, status::BAD_LENGTH),
            (6, status::BAD_REQUEST),
            (7, status::BAD_LENGTH),
        ]
    );
    // The refusal names the device size for an out-of-range request.
    assert_eq!(dev.replies()[0].1.unwrap_err().detail, 64);
}

#[test]
fn writes_to_a_read_only_disk_are_refused() {
    let mut dev = FakeDisk::new(64, 4);
    let mut s = Scheduler::new(dev.disk(true), 4, 2);
    s.submit_transfer(&mut dev, 1, true, 0, 1, 0, &lease(BLOCK_SIZE, READ));
    s.pump(&mut dev);
    assert!(dev.started().is_empty());
    assert_eq!(dev.replies()[0].1.unwrap_err().status, status::READ_ONLY);
}
