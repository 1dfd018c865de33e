//! `BlockClient` through the declared interface to the real service logic:
//! journaled and fresh writes, a transfer larger than one call's lease,
//! allocation bits, a report and a typed refusal.

mod common;

use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::{report, BlockError, MAX_TRANSFER};

#[test]
fn client_over_the_service_round_trips_data() {
    let server = common::service(6000);
    let mut c = common::client(&server, 1);
    let slot = c.root_block(1);

    c.begin().unwrap();
    c.write(slot, &[0xA5; BLOCK_SIZE]).unwrap();
    // More than one call may carry: the client splits it.
    let blocks = (MAX_TRANSFER / BLOCK_SIZE + 3) as u64;
    let run = c.allocate(blocks).unwrap();
    let data: Vec<u8> = (0..blocks as usize * BLOCK_SIZE)
        .map(|i| (i / BLOCK_SIZE) as u8 ^ (i as u8))
        .collect();
    c.write_fresh(run.start, &data).unwrap();
    // Small fresh writes are gathered and sent before the commit.
    let small = c.allocate(2).unwrap();
    c.write_fresh(small.start, &[7; BLOCK_SIZE]).unwrap();
    c.write_fresh(small.start + 1, &[8; BLOCK_SIZE]).unwrap();
    c.commit(Durability::Durable).unwrap();

    let mut back = vec![0u8; data.len()];
    c.read(run.start, &mut back).unwrap();
    assert!(back == data, "the large fresh write reads back");
    let mut two = vec![0u8; 2 * BLOCK_SIZE];
    c.read(small.start, &mut two).unwrap();
    assert!(two[..BLOCK_SIZE].iter().all(|&b| b == 7));
    assert!(two[BLOCK_SIZE..].iter().all(|&b| b == 8));
    let mut one = vec![0u8; BLOCK_SIZE];
    c.read(slot, &mut one).unwrap();
    assert!(one.iter().all(|&b| b == 0xA5));

    assert!(c.is_allocated(run.start).unwrap());
    assert!(c.is_allocated(small.start + 1).unwrap());
    assert!(!c.is_allocated(small.start + 2).unwrap());

    let mut text = vec![0u8; 4096];
    let n = c.report(report::STATS, &mut text).unwrap();
    let text = String::from_utf8_lossy(&text[..n]).into_owned();
    assert!(
        text.contains("service: transaction closed, 0 begin calls waited"),
        "{text}"
    );

    // Typed errors cross with their values.
    let stub = common::stub(&server, 1);
    let mut buf = [0u8; 100];
    match stub.report(9, &mut buf) {
        Err(abi::iface::CallError::Service(e)) => assert_eq!(e, BlockError::NoReport { what: 9 }),
        other => panic!("expected NoReport, got {other:?}"),
    }
    match stub.commit(0, true) {
        Err(abi::iface::CallError::Service(e)) => {
            assert_eq!(e, BlockError::store(block::Error::NoTransaction))
        }
        other => panic!("expected NoTransaction, got {other:?}"),
    }
}
