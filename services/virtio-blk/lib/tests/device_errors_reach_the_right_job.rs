//! A device error fails the job whose piece failed, with that piece's
//! block (and batch entry), and no other; once a job has failed no more of
//! its pieces start, and it is answered after its pieces in flight finish.
mod support;

use abi::lease::{READ, WRITE};
use support::{lease, FakeDisk};
use virtio_blk_api::{status, BatchEntry, BatchOp, BLOCK_SIZE};
use virtio_blk_sched::{Refusal, Scheduler};

#[test]
fn io_error_goes_to_the_job_that_touched_the_bad_block() {
    let mut dev = FakeDisk::new(64, 4);
    dev.bad_blocks.push(21);
    let mut s = Scheduler::new(dev.disk(false), 4, 2);
    for (c, first) in [(1, 0), (2, 20), (3, 40)] {
        dev.leases.insert((c, 0), vec![0; 8 * BLOCK_SIZE]);
        s.submit_transfer(
            &mut dev,
            c,
            false,
            first,
            8,
            0,
            &lease(8 * BLOCK_SIZE, WRITE),
        );
    }
    s.pump(&mut dev);
    // The device fails job 2's first piece before anything else finishes.
    let failing = dev
        .slot_of(2, 20)
        .expect("job 2 got a slot in the first round");
    dev.finish(&mut s, failing);
    let job2_started = dev.started().iter().filter(|(c, _)| *c == 2).count();
    dev.run(&mut s, |_| 0);
    let mut replies = dev.replies();
    replies.sort_by_key(|(c, _)| *c);
    let io = Refusal {
        status: status::IO_ERROR,
        entry: 0,
        first: 20,
        detail: 0,
    };
    assert_eq!(replies, vec![(1, Ok(())), (2, Err(io)), (3, Ok(()))]);
    // No piece of job 2 started after its failure.
    let job2 = dev.started().iter().filter(|(c, _)| *c == 2).count();
    assert_eq!(job2, job2_started);
    assert!(job2 < 4);
}

#[test]
fn a_failing_batch_entry_is_named() {
    let mut dev = FakeDisk::new(64, 4);
    dev.bad_blocks.push(33);
    let mut s = Scheduler::new(dev.disk(false), 4, 4);
    let entries = [
        BatchEntry {
            op: BatchOp::Write,
            first: 10,
            blocks: 1,
            offset: 0,
        },
        BatchEntry {
            op: BatchOp::Write,
            first: 33,
            blocks: 1,
            offset: BLOCK_SIZE as u64,
        },
    ];
    let table: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
    dev.leases.insert((1, 1), vec![5; 2 * BLOCK_SIZE]);
    s.submit_batch(&mut dev, 1, 2, &table, &lease(2 * BLOCK_SIZE, READ));
    dev.run(&mut s, |_| 0);
    let io = Refusal {
        status: status::IO_ERROR,
        entry: 1,
        first: 33,
        detail: 0,
    };
    assert_eq!(dev.replies(), vec![(1, Err(io))]);
}

#[test]
fn an_unusable_lease_is_bad_lease_and_the_scheduler_goes_on() {
    let mut dev = FakeDisk::new(64, 2);
    let mut s = Scheduler::new(dev.disk(false), 2, 2);
    // Client 1 has no lease bytes at all: its write cannot start.
    s.submit_transfer(&mut dev, 1, true, 0, 2, 0, &lease(2 * BLOCK_SIZE, READ));
    // Client 2's read completes but its lease went bad before delivery.
    dev.bad_leases.push(2);
    s.submit_transfer(&mut dev, 2, false, 0, 2, 0, &lease(2 * BLOCK_SIZE, WRITE));
    dev.leases.insert((3, 0), vec![0; BLOCK_SIZE]);
    s.submit_transfer(&mut dev, 3, false, 7, 1, 0, &lease(BLOCK_SIZE, WRITE));
    dev.run(&mut s, |_| 0);
    let mut replies = dev.replies();
    replies.sort_by_key(|(c, _)| *c);
    assert_eq!(replies[0].1.unwrap_err().status, status::BAD_LEASE);
    assert_eq!(replies[1].1.unwrap_err().status, status::BAD_LEASE);
    assert_eq!(replies[2], (3, Ok(())));
    assert_eq!(dev.leases[&(3, 0)], vec![7u8; BLOCK_SIZE]);
}
