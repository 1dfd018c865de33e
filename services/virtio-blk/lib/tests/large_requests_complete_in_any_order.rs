//! A request larger than the queue (more pieces than slots) runs as pieces
//! of at most a chunk, never more in flight than there are slots, and its
//! data is right whatever order the device finishes the pieces in.
mod support;

use abi::lease::{READ, WRITE};
use support::{lease, FakeDisk};
use testkit::XorShift64;
use virtio_blk_api::BLOCK_SIZE;
use virtio_blk_sched::{Op, Scheduler};

const SLOTS: usize = 4;
const CHUNK: u64 = 2;

#[test]
fn large_write_then_read_in_shuffled_completion_orders() {
    for seed in 1..20u64 {
        let mut dev = FakeDisk::new(64, SLOTS);
        let mut s = Scheduler::new(dev.disk(false), SLOTS, CHUNK);
        let blocks = 21u64; // 11 pieces, the last one short
        let data: Vec<u8> = (0..blocks as usize * BLOCK_SIZE)
            .map(|i| (i * 7 + seed as usize) as u8)
            .collect();
        dev.leases.insert((1, 0), data.clone());
        s.submit_transfer(&mut dev, 1, true, 5, blocks, 0, &lease(data.len(), READ));
        let mut rng = XorShift64(seed);
        dev.run(&mut s, |_| (rng.next_u64() >> 16) as usize);
        assert_eq!(dev.replies(), vec![(1, Ok(()))]);
        assert_eq!(
            &dev.storage[5 * BLOCK_SIZE..(5 + blocks as usize) * BLOCK_SIZE],
            &data[..]
        );

        dev.leases.insert((2, 0), vec![0; data.len()]);
        s.submit_transfer(&mut dev, 2, false, 5, blocks, 0, &lease(data.len(), WRITE));
        dev.run(&mut s, |_| (rng.next_u64() >> 16) as usize);
        assert_eq!(dev.replies(), vec![(1, Ok(())), (2, Ok(()))]);
        assert_eq!(dev.leases[&(2, 0)], data);

        let pieces = dev.started();
        assert_eq!(pieces.len(), 22);
        assert!(pieces
            .iter()
            .all(|(_, p)| p.blocks <= CHUNK && p.op != Op::Flush));
        assert_eq!(s.counters.most_in_flight, SLOTS as u64);
        assert_eq!(s.counters.blocks_written, blocks);
        assert_eq!(s.counters.blocks_read, blocks);
    }
}
