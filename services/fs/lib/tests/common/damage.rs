//! [`Damage`]: an image's used blocks damaged one at a time, for the tests
//! that check what bad bytes on disk do (errors or fsck findings, never a
//! panic, never wrong data).

use block::crash::SplitMix;
use block::{BlockStore, Config, MemDevice, Transactional, BLOCK_SIZE};

/// The small block-layer configuration of the damaged-image tests.
pub fn config() -> Config {
    Config {
        cache_blocks: 64,
        journal_blocks: 256,
        group_commit_blocks: 32,
    }
}

/// Damages copies of one image: round by round, a block the filesystem
/// uses (allocated, from the first root block on, or that root block)
/// overwritten with garbage on even rounds, one bit flipped on odd ones.
pub struct Damage {
    used: Vec<u64>,
    rng: SplitMix,
}

impl Damage {
    pub fn of(image: &[u8], seed: u64) -> Damage {
        let mut store = BlockStore::mount(MemDevice::from_image(image.to_vec()), config()).unwrap();
        let first = store.root_block(0);
        let used = (first..store.block_count())
            .filter(|&b| b == first || store.is_allocated(b).unwrap())
            .collect();
        Damage {
            used,
            rng: SplitMix(seed),
        }
    }

    /// A copy of `image` with round `round`'s damage, and the block damaged.
    pub fn apply(&mut self, image: &[u8], round: u64) -> (Vec<u8>, usize) {
        let mut img = image.to_vec();
        let block = self.used[self.rng.below(self.used.len() as u64) as usize] as usize;
        let at = block * BLOCK_SIZE;
        if round.is_multiple_of(2) {
            for b in &mut img[at..at + BLOCK_SIZE] {
                *b = self.rng.next_u64() as u8;
            }
        } else {
            let bit = self.rng.below((BLOCK_SIZE * 8) as u64) as usize;
            img[at + bit / 8] ^= 1 << (bit % 8);
        }
        (img, block)
    }
}
