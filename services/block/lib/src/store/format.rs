//! Writing an empty store: the regions laid out, the journal and roots
//! zeroed, the bitmap and checksum table written, then both superblock
//! copies (the order that keeps a format cut short from looking like a
//! store).

use alloc::vec;

use super::{BlockStore, Config, FormatOptions};
use crate::bitmap::{self, Allocator};
use crate::checksums;
use crate::error::Error;
use crate::journal;
use crate::superblock::{self, Superblock};
use crate::{BlockDevice, BLOCK_SIZE, ROOT_SLOTS};

impl<D: BlockDevice> BlockStore<D> {
    /// Writes an empty store onto `device` (destroying what was there) and mounts it.
    pub fn format(device: D, config: Config) -> Result<Self, Error> {
        Self::format_with(device, config, FormatOptions::default())
    }

    /// `format` with the format-time choices of `options`.
    pub fn format_with(
        mut device: D,
        config: Config,
        options: FormatOptions,
    ) -> Result<Self, Error> {
        let block_count = device.block_count();
        if config.journal_blocks < journal::MIN_JOURNAL_BLOCKS
            || config.journal_blocks > journal::MAX_JOURNAL_BLOCKS
        {
            return Err(Error::BadConfig {
                name: "journal_blocks",
                value: config.journal_blocks,
            });
        }
        let bitmap_blocks = bitmap::bitmap_blocks_for(block_count);
        let checksum_blocks = if options.data_checksums {
            checksums::checksum_blocks_for(block_count)
        } else {
            0
        };
        // Any transaction may rewrite every bitmap block: they must fit in
        // the journal next to at least one other image and its table block.
        if journal::blocks_needed(bitmap_blocks + 2) > config.journal_blocks {
            return Err(Error::BadConfig {
                name: "journal_blocks",
                value: config.journal_blocks,
            });
        }
        let checksum_start = 2 + bitmap_blocks;
        let journal_start = checksum_start + checksum_blocks;
        let root_start = journal_start + config.journal_blocks;
        let data_start = root_start + ROOT_SLOTS as u64;
        if data_start >= block_count {
            return Err(Error::DeviceTooSmall {
                block_count,
                needed: data_start + 1,
            });
        }
        // Old superblocks first: a format cut short must not leave an old
        // store pointing into half-overwritten regions.
        device.write(0, &[0u8; 2 * BLOCK_SIZE])?;
        device.flush()?;
        // Journal and roots zeroed: no stale record can ever look live.
        let zeros = vec![0u8; 256 * BLOCK_SIZE];
        let mut at = journal_start;
        while at < data_start {
            let n = (data_start - at).min(256);
            device.write(at, &zeros[..n as usize * BLOCK_SIZE])?;
            at += n;
        }
        let alloc = Allocator::formatted(block_count, data_start);
        for i in 0..bitmap_blocks {
            device.write(2 + i, &bitmap::encode_block(i, alloc.block_words(i)))?;
        }
        for i in 0..checksum_blocks {
            device.write(checksum_start + i, &checksums::encode_empty(i))?;
        }
        device.flush()?;
        let sb = Superblock {
            block_count,
            generation: 1,
            bitmap_start: 2,
            bitmap_blocks,
            journal_start,
            journal_blocks: config.journal_blocks,
            root_start,
            root_slots: ROOT_SLOTS as u64,
            data_start,
            journal_epoch: 1,
            journal_tail: 0,
            journal_tail_seq: 1,
            features: if options.data_checksums {
                superblock::FEATURE_DATA_CHECKSUMS
            } else {
                0
            },
            checksum_start,
            checksum_blocks,
        };
        let mut both = vec![0u8; 2 * BLOCK_SIZE];
        both[..BLOCK_SIZE].copy_from_slice(
            &Superblock {
                generation: 0,
                ..sb
            }
            .encode(),
        );
        both[BLOCK_SIZE..].copy_from_slice(&sb.encode());
        device.write(0, &both)?;
        device.flush()?;
        Self::mount(device, config)
    }
}
