//! Crash simulation plus damage: at every flush point of seeded random
//! workloads the power is cut (unflushed writes dropped), then one journal
//! block of the crash image gets a sector of flipped bytes, as a failing
//! disk could. Mount must still show a whole state at least as new as the
//! last returned Durable commit (the journal's redundancy repairs the
//! block) and fsck must find nothing but the reported repair.

mod common;

use block::crash::{CutMode, SplitMix};
use block::BLOCK_SIZE;

/// (journal_start, journal_blocks) of the newest superblock copy.
fn journal_region(image: &[u8]) -> (u64, u64) {
    let field = |copy: usize, at: usize| {
        let b = &image[copy * BLOCK_SIZE + at..copy * BLOCK_SIZE + at + 8];
        u64::from_le_bytes(b.try_into().unwrap())
    };
    let copy = if field(1, 24) > field(0, 24) { 1 } else { 0 };
    (field(copy, 48), field(copy, 56))
}

#[test]
fn crash_with_a_damaged_journal_block() {
    let mut checked = 0;
    for seed in 1..4u64 {
        let w = common::run_workload(seed, 30);
        let mut rng = SplitMix(seed ^ 0xDA4A_6E00);
        for cut in w.device.flush_points() {
            let clean = w
                .device
                .crash_image(cut, CutMode::DropAll, &mut SplitMix(0));
            let (start, blocks) = journal_region(&clean);
            // Three damaged variants per cut, each one block of the journal.
            for _ in 0..3 {
                let mut image = clean.clone();
                let block = start + rng.below(blocks);
                let at = block as usize * BLOCK_SIZE + rng.below(8) as usize * 512;
                image[at..at + 512].iter_mut().for_each(|b| *b ^= 0x5A);
                if let Err(why) = w.check_image_with(image, cut, true) {
                    panic!("workload seed {seed} cut {cut}, journal block {block} damaged: {why}");
                }
                checked += 1;
            }
        }
    }
    println!("damaged crash states checked: {checked}");
    assert!(checked >= 100, "only {checked} damaged crash states");
}
