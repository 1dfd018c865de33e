//! Issue 9, weakness 2: one damaged block of a populated journal used to
//! end replay silently ("0 transactions replayed", clean fsck) and undo
//! acknowledged commits. Now every transaction's headers have a copy and
//! each group of images a parity block, so bytes flipped in any single
//! journal block of the live log lose nothing: mount repairs the block and
//! logs it, fsck reports it (a finding where a later commit proves the
//! transaction durable, a note for the last one, which a power cut could
//! have torn), and the offline check says the same before mounting.

use block::{
    check_device, BlockStore, Config, Durability, FindingKind, MemDevice, Transactional, BLOCK_SIZE,
};

fn config() -> Config {
    // Large enough that nothing is checkpointed: every commit stays live.
    Config {
        cache_blocks: 1024,
        journal_blocks: 512,
        group_commit_blocks: 16,
    }
}

/// Expected contents: (block, first byte).
type Expect = Vec<(u64, u8)>;

/// Five Durable commits, all still in the journal (from offset 0). Returns
/// the device, what must be readable, and the journal offset where the
/// large transaction and the last one start and where the log ends.
fn populated() -> (MemDevice, Expect, u64, u64, u64) {
    let mut s = BlockStore::format(MemDevice::new(1200), config()).unwrap();
    let root = |s: &BlockStore<MemDevice>, i| s.root_block(i);
    let mut expect = Vec::new();

    s.begin().unwrap();
    let small = s.allocate(3).unwrap();
    s.write(small.start, &vec![1u8; 3 * BLOCK_SIZE]).unwrap();
    s.write(root(&s, 0), &[1u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    s.begin().unwrap();
    s.write(root(&s, 1), &[2u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    s.begin().unwrap();
    s.free(block::Extent::new(small.start + 2, 1)).unwrap();
    s.write(root(&s, 0), &[3u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    // 340 images plus bitmap and root: two descriptor groups.
    let big_at = s.stats().journal_used_blocks;
    s.begin().unwrap();
    let big = s.allocate(340).unwrap();
    s.write(big.start, &vec![4u8; 340 * BLOCK_SIZE]).unwrap();
    s.write(root(&s, 2), &[4u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();

    let last = s.stats().journal_used_blocks;
    s.begin().unwrap();
    s.write(root(&s, 3), &[5u8; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    let end = s.stats().journal_used_blocks;
    assert_eq!(s.stats().checkpoints, 0);

    expect.extend([(small.start, 1), (small.start + 1, 1)]);
    expect.extend([
        (root(&s, 0), 3),
        (root(&s, 1), 2),
        (root(&s, 2), 4),
        (root(&s, 3), 5),
    ]);
    expect.extend([(big.start, 4), (big.start + 200, 4), (big.end() - 1, 4)]);
    (s.into_device(), expect, big_at, last, end)
}

fn first_byte(s: &mut BlockStore<MemDevice>, block: u64) -> u8 {
    let mut b = vec![0u8; BLOCK_SIZE];
    s.read(block, &mut b).unwrap();
    b[0]
}

#[test]
fn damaged_journal_block_loses_nothing() {
    let (dev, expect, big_at, last, end) = populated();
    let journal_start = BlockStore::mount(dev.clone(), config())
        .unwrap()
        .geometry()
        .journal
        .start;
    // The large transaction: [D D'] 338 images [P] [D D'] 4 images [P] [C C'].
    let second_group = big_at + 341;
    for offset in 0..end {
        // Its image blocks are alike: test every 16th (the run takes ~1/10
        // of the time), every header, parity and the second group whole.
        let interior = (big_at + 3..second_group - 2).contains(&offset);
        if interior && offset % 16 != 0 {
            continue;
        }
        let block = journal_start + offset;
        let mut damaged = dev.clone();
        // Flip every byte of one 512-byte sector of the block.
        let at = block as usize * BLOCK_SIZE + (offset as usize % 8) * 512;
        damaged.image_mut()[at..at + 512]
            .iter_mut()
            .for_each(|b| *b ^= 0xA5);
        let durable = offset < last;
        let says_block = |t: &str| t.contains(&format!("journal block {block} "));

        let offline = check_device(&mut damaged.clone()).unwrap();
        if durable {
            assert!(
                offline
                    .findings()
                    .iter()
                    .any(|f| f.kind == FindingKind::Journal && f.block == Some(block)),
                "offset {offset}: {offline}"
            );
        } else {
            assert!(
                offline.notes.iter().any(|n| says_block(n)),
                "offset {offset}: {offline}"
            );
        }

        let mut s = BlockStore::mount(damaged, config())
            .unwrap_or_else(|e| panic!("offset {offset}: mount failed: {e}"));
        assert_eq!(s.stats().transactions_replayed, 5, "offset {offset}");
        assert!(
            s.events().any(says_block),
            "offset {offset}: {:?}",
            s.events().collect::<Vec<_>>()
        );
        for &(b, v) in &expect {
            assert_eq!(first_byte(&mut s, b), v, "offset {offset}: block {b}");
        }
        let report = s.check().unwrap();
        if durable {
            let f = report.findings();
            assert_eq!(f.len(), 1, "offset {offset}: {report}");
            assert_eq!((f[0].kind, f[0].block), (FindingKind::Journal, Some(block)));
            assert!(f[0].message.contains("nothing was lost"), "{report}");
        } else {
            assert!(report.is_clean(), "offset {offset}: {report}");
            assert!(
                report.notes.iter().any(|n| says_block(n)),
                "offset {offset}: {report}"
            );
        }
    }
}
