//! `write_fresh` calls of one transaction reach the device as one `submit`
//! batch at commit (adjacent extents merged into one request), before the
//! commit's flush; reads in the same transaction see the buffered data; an
//! abort writes none of it; a full buffer is sent early; a rewrite of a
//! buffered block lands last.

use block::{BlockStore, Config, Durability};
use block::{Transactional, BLOCK_SIZE};

mod logging_device;
use logging_device::{Call, Logging};

fn store() -> BlockStore<Logging> {
    let dev = Logging::new(600, false);
    BlockStore::format(dev, Config::default_small()).unwrap()
}

fn image(v: u8, blocks: usize) -> Vec<u8> {
    vec![v; blocks * BLOCK_SIZE]
}

fn on_device(s: &BlockStore<Logging>, block: u64) -> u8 {
    s.device().dev.image()[block as usize * BLOCK_SIZE]
}

fn calls_since(s: &BlockStore<Logging>, mark: usize) -> &[Call] {
    &s.device().calls[mark..]
}

#[test]
fn one_batch_at_commit_and_reads_see_the_buffer() {
    let mut s = store();
    s.begin().unwrap();
    let a = s.allocate(3).unwrap();
    let _gap = s.allocate(40).unwrap(); // keeps `b` from touching `a`
    let b = s.allocate(2).unwrap();
    let mark = s.device().calls.len();
    // Three writes, the first two adjacent on disk, the third elsewhere.
    s.write_fresh(a.start, &image(1, 2)).unwrap();
    s.write_fresh(a.start + 2, &image(2, 1)).unwrap();
    s.write_fresh(b.start, &image(3, 2)).unwrap();
    assert!(
        calls_since(&s, mark).is_empty(),
        "nothing reaches the device before commit: {:?}",
        calls_since(&s, mark)
    );
    assert_eq!(on_device(&s, a.start), 0);

    // The transaction reads its own fresh data from the buffer.
    let mut back = image(0, 4);
    s.read(a.start, &mut back).unwrap();
    let firsts: Vec<u8> = back.chunks_exact(BLOCK_SIZE).map(|c| c[0]).collect();
    assert_eq!(firsts, vec![1, 1, 2, 0]);
    let mut one = image(0, 1);
    s.read(b.start + 1, &mut one).unwrap();
    assert!(one.iter().all(|&x| x == 3));

    s.write(s.root_block(0), &image(9, 1)).unwrap();
    s.commit(Durability::Durable).unwrap();
    let calls = calls_since(&s, mark);
    // One batch of two requests (a: 3 blocks merged, b: 2), then the
    // ordered-data flush, then the journal write and its flush.
    assert_eq!(
        calls[0],
        Call::Submit(vec![(a.start, 3), (b.start, 2)]),
        "{calls:?}"
    );
    assert_eq!(calls[1], Call::Flush, "{calls:?}");
    // (a Durable commit's records go out as `write_durable`: a write then
    // a flush on a device that has no such single request.)
    assert!(matches!(calls[2], Call::Write { .. }), "{calls:?}");
    assert_eq!(calls[3], Call::Flush, "{calls:?}");
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(on_device(&s, a.start + 2), 2);
    assert_eq!(on_device(&s, b.start + 1), 3);
}

#[test]
fn abort_writes_nothing() {
    let mut s = store();
    s.begin().unwrap();
    let a = s.allocate(4).unwrap();
    let mark = s.device().calls.len();
    s.write_fresh(a.start, &image(5, 4)).unwrap();
    s.abort();
    assert!(calls_since(&s, mark).is_empty());
    assert_eq!(on_device(&s, a.start), 0);
    // The next transaction may reuse the blocks; nothing stale appears.
    s.begin().unwrap();
    let again = s.allocate(4).unwrap();
    s.write_fresh(again.start, &image(6, 4)).unwrap();
    s.commit(Durability::Durable).unwrap();
    let mut back = image(0, 4);
    s.read(again.start, &mut back).unwrap();
    assert!(back.iter().all(|&x| x == 6));
}

#[test]
fn a_full_buffer_is_sent_early_and_rewrites_land_last() {
    let mut s = store();
    s.set_fresh_buffer_blocks(4);
    s.begin().unwrap();
    let a = s.allocate(12).unwrap();
    let mark = s.device().calls.len();
    s.write_fresh(a.start, &image(1, 3)).unwrap();
    assert!(calls_since(&s, mark).is_empty());
    // 3 + 2 > 4: the three buffered blocks go out first.
    s.write_fresh(a.start + 3, &image(2, 2)).unwrap();
    assert_eq!(
        calls_since(&s, mark),
        &[Call::Submit(vec![(a.start, 3)])][..]
    );
    // Larger than the bound: the buffer, then this write on its own.
    s.write_fresh(a.start + 5, &image(3, 5)).unwrap();
    assert_eq!(
        calls_since(&s, mark)[1..],
        [
            Call::Submit(vec![(a.start + 3, 2)]),
            Call::Write {
                first: a.start + 5,
                blocks: 5
            }
        ]
    );
    // Rewriting a buffered block: the older image is sent before the new
    // one is buffered, so the device ends with the newer one.
    s.write_fresh(a.start + 10, &image(4, 2)).unwrap();
    s.write_fresh(a.start + 11, &image(5, 1)).unwrap();
    let mut back = image(0, 2);
    s.read(a.start + 10, &mut back).unwrap();
    assert_eq!((back[0], back[BLOCK_SIZE]), (4, 5));
    s.commit(Durability::Durable).unwrap();
    let want = [1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 5];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(on_device(&s, a.start + i as u64), *w, "block {i}");
    }
    // And after a remount (the commit was durable).
    let mut s = BlockStore::mount(s.into_device(), Config::default_small()).unwrap();
    let mut all = image(0, 12);
    s.read(a.start, &mut all).unwrap();
    let got: Vec<u8> = all.chunks_exact(BLOCK_SIZE).map(|c| c[0]).collect();
    assert_eq!(got, want);
}

#[test]
fn a_journaled_write_over_buffered_fresh_data_wins() {
    let mut s = store();
    s.begin().unwrap();
    let a = s.allocate(2).unwrap();
    s.write_fresh(a.start, &image(1, 2)).unwrap();
    s.write(a.start + 1, &image(7, 1)).unwrap();
    let mut back = image(0, 2);
    s.read(a.start, &mut back).unwrap();
    assert_eq!((back[0], back[BLOCK_SIZE]), (1, 7));
    s.commit(Durability::Durable).unwrap();
    // After a power cut, replay puts the journaled image over the fresh one.
    let mut s = BlockStore::mount(s.into_device(), Config::default_small()).unwrap();
    s.read(a.start, &mut back).unwrap();
    assert_eq!((back[0], back[BLOCK_SIZE]), (1, 7));
}
