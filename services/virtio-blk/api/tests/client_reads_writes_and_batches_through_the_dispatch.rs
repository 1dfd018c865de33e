//! `DiskClient` over the real `blk` stubs and dispatch, against an
//! in-memory fake driver: single reads and writes, a batch gathered in the
//! staging buffer, and the driver's counters.
mod support;

use block::{BlockDevice, IoRequest};
use support::{client, pattern};
use virtio_blk_api::BLOCK_SIZE;

#[test]
fn writes_read_back_equal_singly_and_in_batches() {
    let mut dev = client(64, false);
    assert_eq!(dev.block_count(), 64);
    assert!(!dev.read_only());

    let data = pattern(3, 1);
    dev.write(10, &data).unwrap();
    dev.write_with(63, &pattern(1, 2), true).unwrap();
    let mut back = vec![0u8; 3 * BLOCK_SIZE];
    dev.read(10, &mut back).unwrap();
    assert_eq!(back, data);

    // Eight writes then eight reads, each batch in one call.
    let blocks: Vec<u64> = (0..8).map(|i| 20 + i * 4).collect();
    let datas: Vec<Vec<u8>> = (0..8).map(|i| pattern(2, 10 + i)).collect();
    let mut batch: Vec<IoRequest> = blocks
        .iter()
        .zip(&datas)
        .map(|(&first, data)| IoRequest::Write { first, data })
        .collect();
    dev.submit(&mut batch).unwrap();
    let mut backs: Vec<Vec<u8>> = (0..8).map(|_| vec![0u8; 2 * BLOCK_SIZE]).collect();
    let mut batch: Vec<IoRequest> = blocks
        .iter()
        .zip(backs.iter_mut())
        .map(|(&first, buf)| IoRequest::Read { first, buf })
        .collect();
    dev.submit(&mut batch).unwrap();
    drop(batch);
    assert_eq!(backs, datas);

    let stats = dev.stats().unwrap();
    // 2 single writes + 1 single read, then 2 batch calls.
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.copied_pieces, 3);
}
