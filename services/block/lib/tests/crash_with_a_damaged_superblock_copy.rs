//! One damaged superblock copy loses nothing (issue #9, the harness's
//! `rollback-fsck-only`). At every flush point of seeded random workloads
//! whose journal wraps many times, the power is cut (unflushed writes
//! dropped), then either the newest or the older superblock copy gets a
//! sector of flipped bytes. Mount must report the damaged copy, show a
//! whole state at least as new as the last returned Durable commit (the
//! other copy names the same journal: `superblock.rs`, "Two copies, one
//! journal"), and leave both copies repaired, so fsck finds nothing.

mod common;

use block::crash::{CutMode, SplitMix};
use block::{BlockStore, MemDevice, BLOCK_SIZE};

fn field(image: &[u8], copy: usize, at: usize) -> u64 {
    let b = &image[copy * BLOCK_SIZE + at..copy * BLOCK_SIZE + at + 8];
    u64::from_le_bytes(b.try_into().unwrap())
}

/// Which copy (block 0 or 1) has the higher generation.
fn newest_copy(image: &[u8]) -> usize {
    usize::from(field(image, 1, 24) > field(image, 0, 24))
}

#[test]
fn crash_with_a_damaged_superblock_copy() {
    let (mut checked, mut wraps) = (0, 0);
    for seed in 1..5u64 {
        let w = common::run_workload(seed, 40);
        let mut rng = SplitMix(seed ^ 0x5B5B_0000);
        let mut last_tail = 0;
        for cut in w.device.flush_points() {
            let clean = w
                .device
                .crash_image(cut, CutMode::DropAll, &mut SplitMix(0));
            let newest = newest_copy(&clean);
            let tail = field(&clean, newest, 96);
            if tail < last_tail {
                wraps += 1;
            }
            last_tail = tail;
            for (which, copy) in [("newest", newest), ("older", 1 - newest)] {
                let mut image = clean.clone();
                // The copy's meaningful bytes are its first sector.
                let at = copy * BLOCK_SIZE + rng.below(448) as usize;
                image[at..at + 64].iter_mut().for_each(|b| *b ^= 0xA5);
                let what = format!("workload seed {seed} cut {cut}, {which} copy (block {copy})");
                let s = BlockStore::mount(MemDevice::from_image(image.clone()), common::config())
                    .unwrap_or_else(|e| panic!("{what}: mount failed: {e}"));
                let told = format!("superblock copy in block {copy} is damaged");
                assert!(
                    s.events().any(|e| e.contains(&told)),
                    "{what}: mount did not report it: {:?}",
                    s.events().collect::<Vec<_>>()
                );
                drop(s);
                if let Err(why) = w.check_image(image, cut) {
                    panic!("{what}: {why}");
                }
                checked += 1;
            }
        }
    }
    println!("damaged superblock states checked: {checked}, journal wraps seen: {wraps}");
    assert!(wraps >= 4, "the journal wrapped only {wraps} times");
    assert!(checked >= 100, "only {checked} damaged states");
}
