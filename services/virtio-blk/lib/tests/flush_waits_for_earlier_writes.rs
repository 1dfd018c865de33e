//! A FUA write is answered only after a flush, and that flush starts only
//! after every piece of the write completed; a device without a write
//! cache gets no flush at all.
mod support;

use abi::lease::READ;
use support::{lease, Event, FakeDisk};
use virtio_blk_api::{write_flags, BLOCK_SIZE};
use virtio_blk_sched::{Op, Scheduler};

#[test]
fn fua_flush_starts_after_the_last_write_piece_completed() {
    let mut dev = FakeDisk::new(64, 8);
    let mut s = Scheduler::new(dev.disk(false), 8, 2);
    dev.leases.insert((1, 0), vec![9; 8 * BLOCK_SIZE]);
    s.submit_transfer(
        &mut dev,
        1,
        true,
        0,
        8,
        write_flags::FUA,
        &lease(8 * BLOCK_SIZE, READ),
    );
    // Finish the write pieces newest first; the flush must still come last.
    dev.run(&mut s, |busy| busy.len() - 1);
    let last_write_done = dev
        .log
        .iter()
        .rposition(|e| matches!(e, Event::Completed(_, p) if p.op == Op::Write))
        .unwrap();
    let flush_started = dev
        .position(|e| matches!(e, Event::Started(_, p) if p.op == Op::Flush))
        .expect("a flush was sent");
    let replied = dev
        .position(|e| matches!(e, Event::Replied(1, Ok(()))))
        .unwrap();
    assert!(
        last_write_done < flush_started && flush_started < replied,
        "{:?}",
        dev.log
    );
    assert_eq!(dev.started().len(), 5);
}

#[test]
fn no_flush_is_sent_to_a_device_without_a_write_cache() {
    let mut dev = FakeDisk::new(64, 4);
    dev.has_flush = false;
    let mut s = Scheduler::new(dev.disk(false), 4, 2);
    dev.leases.insert((1, 0), vec![9; 4 * BLOCK_SIZE]);
    s.submit_transfer(
        &mut dev,
        1,
        true,
        0,
        4,
        write_flags::FUA,
        &lease(4 * BLOCK_SIZE, READ),
    );
    s.submit_flush(2);
    dev.run(&mut s, |_| 0);
    assert!(dev.started().iter().all(|(_, p)| p.op == Op::Write));
    assert_eq!(dev.replies(), vec![(2, Ok(())), (1, Ok(()))]);
}

#[test]
fn a_flush_request_is_a_device_flush() {
    let mut dev = FakeDisk::new(64, 4);
    let mut s = Scheduler::new(dev.disk(false), 4, 2);
    s.submit_flush(3);
    dev.run(&mut s, |_| 0);
    assert_eq!(dev.started().len(), 1);
    assert_eq!(dev.started()[0].1.op, Op::Flush);
    assert_eq!(dev.replies(), vec![(3, Ok(()))]);
}
