//! `write_back_fresh`: the block service sends a large upload's buffered
//! fresh data while it is idle, before the commit. It is due only for a
//! buffer worth a device request, sends it as one batch, and changes no
//! guarantee: the transaction still reads its data, an abort still leaves
//! nothing referenced, a power cut anywhere (unflushed writes dropped,
//! kept, or torn and reordered) recovers the last Durable commit and never
//! a half of the next, and a failed write-back turns the store read-only so
//! the commit fails instead of committing data that never reached the disk.

mod faults;
mod logging_device;

use block::{
    BlockStore, Config, Durability, Extent, MemDevice, Transactional, BLOCK_SIZE,
    FRESH_WRITE_BACK_BYTES,
};
use faults::Faulty;
use logging_device::{Call, Logging};
use testkit::{crash_image, record_from, CutMode, Cuts, RecordingDevice, SplitMix};

/// A fresh buffer as the block service has it (512 blocks) over a journal
/// that holds the test's transactions.
fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 64,
        group_commit_blocks: 16,
    }
}

const DUE_BLOCKS: u64 = (FRESH_WRITE_BACK_BYTES / BLOCK_SIZE) as u64;

/// Block `b`'s data as upload `t` wrote it.
fn image(b: u64, t: u64, blocks: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(blocks as usize * BLOCK_SIZE);
    for k in 0..blocks {
        let mut one = testkit::noise((b + k).wrapping_mul(31) ^ t, BLOCK_SIZE);
        one[..8].copy_from_slice(&(b + k).to_le_bytes());
        one[8..16].copy_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&one);
    }
    v
}

/// What root block 0 says: the upload a commit made (first block, blocks, t).
type Pointer = (u64, u64, u64);

/// Root block 0 naming an upload.
fn pointer(first: u64, blocks: u64, t: u64) -> Vec<u8> {
    let mut v = vec![0u8; BLOCK_SIZE];
    for (i, x) in [first, blocks, t].into_iter().enumerate() {
        v[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    v
}

fn read_pointer<D: block::BlockDevice>(s: &mut BlockStore<D>) -> Pointer {
    let mut v = vec![0u8; BLOCK_SIZE];
    s.read(s.root_block(0), &mut v).unwrap();
    let w = |i: usize| u64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
    (w(0), w(1), w(2))
}

#[test]
fn due_only_for_a_buffer_worth_a_request_and_sent_as_one_batch() {
    let mut s = BlockStore::format(Logging::new(2000, false), config()).unwrap();
    s.set_fresh_buffer_blocks(512);
    assert!(!s.fresh_write_back_due(), "no transaction: nothing is due");
    s.begin().unwrap();
    let e = s.allocate(DUE_BLOCKS + 8).unwrap();
    // A small put's few blocks wait for their commit.
    s.write_fresh(e.start, &image(e.start, 1, 4)).unwrap();
    assert!(!s.fresh_write_back_due());
    assert!(!s.write_back_fresh().unwrap());
    // A piece of an upload is worth a request of its own.
    s.write_fresh(e.start + 4, &image(e.start + 4, 1, DUE_BLOCKS))
        .unwrap();
    assert!(s.fresh_write_back_due());
    let mark = s.device().calls.len();
    assert!(s.write_back_fresh().unwrap());
    assert_eq!(
        s.device().calls[mark..],
        [Call::Submit(vec![(e.start, DUE_BLOCKS + 4)])],
        "one batch, adjacent writes merged, no flush"
    );
    assert_eq!(s.stats().fresh_write_backs, 1);
    assert!(!s.fresh_write_back_due(), "the buffer is empty again");
    // The transaction reads what it wrote, now from the device.
    let mut back = vec![0u8; (DUE_BLOCKS as usize + 4) * BLOCK_SIZE];
    s.read(e.start, &mut back).unwrap();
    let mut want = image(e.start, 1, 4);
    want.extend(image(e.start + 4, 1, DUE_BLOCKS));
    assert!(back == want);
    // More fresh data after the write-back goes out with the commit, before
    // its flush.
    s.write_fresh(
        e.start + 4 + DUE_BLOCKS,
        &image(e.start + 4 + DUE_BLOCKS, 1, 4),
    )
    .unwrap();
    s.write(s.root_block(0), &pointer(e.start, DUE_BLOCKS + 8, 1))
        .unwrap();
    let mark = s.device().calls.len();
    s.commit(Durability::Durable).unwrap();
    let calls = &s.device().calls[mark..];
    assert_eq!(calls[0], Call::Submit(vec![(e.start + 4 + DUE_BLOCKS, 4)]));
    assert_eq!(calls[1], Call::Flush, "the ordered-data flush covers both");
}

#[test]
fn an_abort_after_a_write_back_leaves_nothing_referenced() {
    let mut s = BlockStore::format(MemDevice::new(2000), config()).unwrap();
    s.set_fresh_buffer_blocks(512);
    s.begin().unwrap();
    let e = s.allocate(DUE_BLOCKS).unwrap();
    s.write_fresh(e.start, &image(e.start, 1, DUE_BLOCKS))
        .unwrap();
    assert!(s.write_back_fresh().unwrap());
    s.write(s.root_block(0), &pointer(e.start, DUE_BLOCKS, 1))
        .unwrap();
    s.abort();
    assert_eq!(read_pointer(&mut s), (0, 0, 0));
    for b in e.start..e.start + DUE_BLOCKS {
        assert!(!s.is_allocated(b).unwrap(), "block {b} stays allocated");
    }
    assert!(!s.fresh_write_back_due());
    assert!(
        !s.write_back_fresh().unwrap(),
        "nothing to send outside a transaction"
    );
}

#[test]
fn a_failed_write_back_fails_the_commit() {
    let mut s = BlockStore::format(Faulty::new(MemDevice::new(2000)), config()).unwrap();
    s.set_fresh_buffer_blocks(512);
    s.begin().unwrap();
    let e = s.allocate(DUE_BLOCKS).unwrap();
    s.write_fresh(e.start, &image(e.start, 1, DUE_BLOCKS))
        .unwrap();
    s.write(s.root_block(0), &pointer(e.start, DUE_BLOCKS, 1))
        .unwrap();
    s.device_mut_unchecked().fail_writes = true;
    let err = s.write_back_fresh().unwrap_err();
    assert!(matches!(err, block::Error::ReadOnly(_)), "{err:?}");
    assert!(s.stats().read_only.is_some());
    s.device_mut_unchecked().fail_writes = false;
    assert!(
        s.commit(Durability::Durable).is_err(),
        "a commit after a failed write-back must fail"
    );
    s.abort();
    assert_eq!(read_pointer(&mut s), (0, 0, 0));
}

/// Uploads `rounds` times: each a transaction of fresh pieces (a write-back
/// after each piece, as the block service does between requests) that
/// frees the previous upload and names the new one from root block 0,
/// committed Durable. Returns the recorded device and, per upload, the ops
/// index after its commit returned and what the pointer then says.
fn recorded_uploads(seed: u64, rounds: u64) -> (RecordingDevice, Vec<(usize, Pointer)>) {
    let mut s = BlockStore::format(MemDevice::new(3000), config()).unwrap();
    s.begin().unwrap();
    s.write(s.root_block(0), &pointer(0, 0, 0)).unwrap();
    s.commit(Durability::Durable).unwrap();
    let mut s = record_from(s.unmount().unwrap().into_image(), config());
    s.set_fresh_buffer_blocks(512);
    let mut rng = SplitMix(seed);
    let mut acked = vec![(s.device().ops().len(), (0, 0, 0))];
    let mut prev: Option<Extent> = None;
    for t in 1..=rounds {
        s.begin().unwrap();
        let pieces = 1 + rng.below(3);
        // The first piece is due on its own; the others may need the next.
        let blocks: Vec<u64> = (0..pieces)
            .map(|i| match i {
                0 => DUE_BLOCKS + rng.below(8),
                _ => DUE_BLOCKS / 2 + rng.below(DUE_BLOCKS),
            })
            .collect();
        let total: u64 = blocks.iter().sum();
        let e = s.allocate(total).unwrap();
        let mut at = e.start;
        let mut write_backs = 0;
        for n in blocks {
            s.write_fresh(at, &image(at, t, n)).unwrap();
            at += n;
            write_backs += u64::from(s.write_back_fresh().unwrap());
        }
        assert!(write_backs > 0, "seed {seed}: upload {t} never wrote back");
        if let Some(p) = prev {
            s.free(p).unwrap();
        }
        s.write(s.root_block(0), &pointer(e.start, total, t))
            .unwrap();
        s.commit(Durability::Durable).unwrap();
        acked.push((s.device().ops().len(), (e.start, total, t)));
        prev = Some(e);
    }
    (s.into_device(), acked)
}

#[test]
fn power_cuts_around_write_backs_recover_the_last_durable_upload_whole() {
    let mut states = 0;
    for seed in 0..4u64 {
        let (dev, acked) = recorded_uploads(seed, 5);
        let cuts = Cuts::every(&dev).to_vec();
        for &cut in &cuts {
            for mode in [CutMode::DropAll, CutMode::KeepAll, CutMode::Random] {
                let ctx = format!("seed {seed} cut {cut} {mode:?}");
                let disk = crash_image(&dev, cut, mode, seed ^ cut as u64);
                let mut s = BlockStore::mount(MemDevice::from_image(disk), config())
                    .unwrap_or_else(|e| panic!("{ctx}: mount: {e:?}"));
                let (first, blocks, t) = read_pointer(&mut s);
                // The newest upload whose commit returned before the cut is
                // the least the disk may show; the one after it at most.
                let floor = acked.iter().rposition(|&(at, _)| at <= cut).unwrap_or(0);
                let allowed = &acked[floor..(floor + 2).min(acked.len())];
                assert!(
                    allowed.iter().any(|&(_, p)| p == (first, blocks, t)),
                    "{ctx}: pointer {:?}, allowed {:?}",
                    (first, blocks, t),
                    allowed
                );
                if blocks > 0 {
                    let mut back = vec![0u8; blocks as usize * BLOCK_SIZE];
                    s.read(first, &mut back).unwrap();
                    assert!(
                        back == image(first, t, blocks),
                        "{ctx}: upload {t}'s data differs"
                    );
                    for b in first..first + blocks {
                        assert!(s.is_allocated(b).unwrap(), "{ctx}: block {b} not allocated");
                    }
                }
                states += 1;
            }
        }
    }
    assert!(states > 300, "{states} crash states");
}
