//! A Durable commit (or the `sync` after Batched ones) writes its journal
//! records and flushes them in one device request, `write_durable`, which
//! the virtio-blk client sends as one FUA write: one call to the disk
//! driver per durable commit instead of a write and a flush (issue #13).
//! Records that wrap the journal's end go out as before (a batch, then a
//! flush), and fresh data still gets its ordered-data flush first. What is
//! on the device afterwards is the same either way. A device without such
//! a request (the default) gets a write and a flush, as before.

use block::{BlockStore, Config, Durability};
use block::{Transactional, BLOCK_SIZE};

mod logging_device;
use logging_device::{Call, Logging};

fn store() -> BlockStore<Logging> {
    let dev = Logging::new(600, true);
    BlockStore::format(dev, Config::default_small()).unwrap()
}

/// One transaction writing `v` into a new block; answers the block.
fn put(s: &mut BlockStore<Logging>, v: u8, durability: Durability) -> u64 {
    s.begin().unwrap();
    let b = s.allocate(1).unwrap().start;
    s.write(b, &vec![v; BLOCK_SIZE]).unwrap();
    s.commit(durability).unwrap();
    b
}

#[test]
fn durable_commit_is_one_write_with_its_flush() {
    let mut s = store();
    let journal = s.geometry().journal;
    s.device_mut_unchecked().calls.clear();
    let flushes0 = s.stats().device_flushes;
    put(&mut s, 7, Durability::Durable);
    // Its block and the bitmap's: descriptor pair, 2 images, parity, commit pair.
    let calls = &s.device().calls;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        matches!(calls[0], Call::WriteDurable { first, blocks: 7 } if journal.contains(first)),
        "{calls:?}"
    );
    let st = s.stats();
    assert_eq!(st.device_flushes - flushes0, 1);
    assert_eq!(st.device_durable_writes, 1);
    assert_eq!(st.commits_durable, 1);
}

#[test]
fn device_without_one_request_gets_a_write_and_a_flush() {
    let mut s = store();
    s.device_mut_unchecked().fused = false;
    s.device_mut_unchecked().calls.clear();
    put(&mut s, 7, Durability::Durable);
    let calls = &s.device().calls;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        matches!(calls[0], Call::Write { blocks: 7, .. }),
        "{calls:?}"
    );
    assert_eq!(calls[1], Call::Flush);
    assert_eq!(s.stats().device_durable_writes, 0);
}

#[test]
fn sync_after_batched_commits_is_one_write_with_its_flush() {
    let mut s = store();
    s.device_mut_unchecked().calls.clear();
    let a = put(&mut s, 1, Durability::Batched);
    let b = put(&mut s, 2, Durability::Batched);
    assert!(
        s.device().calls.is_empty(),
        "batched commits stay in memory"
    );
    s.sync().unwrap();
    let calls = &s.device().calls;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(matches!(calls[0], Call::WriteDurable { .. }), "{calls:?}");
    // Both survive a power cut right after the sync.
    let dev = s.into_device().dev;
    let mut s = BlockStore::mount(dev, Config::default_small()).unwrap();
    let mut buf = vec![0u8; BLOCK_SIZE];
    s.read(a, &mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 1));
    s.read(b, &mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 2));
}

#[test]
fn fresh_data_is_flushed_before_the_durable_records() {
    let mut s = store();
    s.device_mut_unchecked().calls.clear();
    s.begin().unwrap();
    let fresh = s.allocate(2).unwrap();
    s.write_fresh(fresh.start, &vec![5u8; 2 * BLOCK_SIZE])
        .unwrap();
    s.commit(Durability::Durable).unwrap();
    let calls = &s.device().calls;
    // The fresh data, the ordered-data flush, then records and their flush.
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        matches!(calls[0], Call::Submit(_) | Call::Write { .. }),
        "{calls:?}"
    );
    assert_eq!(calls[1], Call::Flush);
    assert!(matches!(calls[2], Call::WriteDurable { .. }), "{calls:?}");
}

#[test]
fn records_wrapping_the_journal_end_are_written_then_flushed() {
    let mut s = store();
    let journal = s.geometry().journal;
    // Durable one-block commits (7 journal blocks each) until one wraps.
    let mut wrapped = false;
    for i in 0..40u8 {
        s.device_mut_unchecked().calls.clear();
        put(&mut s, i, Durability::Durable);
        let calls = &s.device().calls;
        if let Some(Call::Submit(parts)) = calls.iter().find(|c| matches!(c, Call::Submit(_))) {
            if parts.len() == 2 && parts[1].0 == journal.start {
                let at = calls.iter().position(|c| matches!(c, Call::Submit(_)));
                assert_eq!(calls.get(at.unwrap() + 1), Some(&Call::Flush), "{calls:?}");
                wrapped = true;
                break;
            }
        }
    }
    assert!(wrapped, "no commit wrapped the journal");
}
