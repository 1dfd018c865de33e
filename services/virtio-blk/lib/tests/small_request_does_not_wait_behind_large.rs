//! Jobs take free slots in turn: a one-block read that arrives behind a
//! large read gets a slot in the first round and is answered long before
//! the large one.
mod support;

use abi::lease::WRITE;
use support::{lease, Event, FakeDisk};
use virtio_blk_api::BLOCK_SIZE;
use virtio_blk_sched::Scheduler;

#[test]
fn small_read_gets_a_slot_in_the_first_round() {
    let mut dev = FakeDisk::new(64, 4);
    let mut s = Scheduler::new(dev.disk(false), 4, 1);
    dev.leases.insert((1, 0), vec![0; 40 * BLOCK_SIZE]);
    dev.leases.insert((2, 0), vec![0; BLOCK_SIZE]);
    s.submit_transfer(&mut dev, 1, false, 0, 40, 0, &lease(40 * BLOCK_SIZE, WRITE));
    s.submit_transfer(&mut dev, 2, false, 50, 1, 0, &lease(BLOCK_SIZE, WRITE));
    s.pump(&mut dev);
    let first_round: Vec<u32> = dev.started().iter().map(|(c, _)| *c).collect();
    assert_eq!(first_round.len(), 4);
    assert!(
        first_round.contains(&2),
        "the small job waited: {first_round:?}"
    );

    // The device finishes in order; the small job is answered first.
    dev.run(&mut s, |_| 0);
    let replies: Vec<u32> = dev.replies().iter().map(|(c, _)| *c).collect();
    assert_eq!(replies, vec![2, 1]);
    let small = dev.position(|e| *e == Event::Replied(2, Ok(()))).unwrap();
    let large = dev.position(|e| *e == Event::Replied(1, Ok(()))).unwrap();
    assert!(small < large);
    assert_eq!(dev.leases[&(2, 0)], vec![50u8; BLOCK_SIZE]);
}

#[test]
fn two_large_jobs_alternate() {
    let mut dev = FakeDisk::new(64, 2);
    let mut s = Scheduler::new(dev.disk(false), 2, 1);
    for c in [1, 2] {
        dev.leases.insert((c, 0), vec![0; 8 * BLOCK_SIZE]);
        s.submit_transfer(&mut dev, c, false, 0, 8, 0, &lease(8 * BLOCK_SIZE, WRITE));
    }
    dev.run(&mut s, |_| 0);
    let order: Vec<u32> = dev.started().iter().map(|(c, _)| *c).collect();
    // Never more than one piece of a job in a row while the other waits.
    assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");
}
