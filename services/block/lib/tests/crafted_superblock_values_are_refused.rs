//! A superblock whose checksum is right but whose values are out of bounds
//! (a bug, or a crafted disk) is refused at mount with an error naming the
//! field and its value, before any arithmetic uses it: it never panics,
//! never wraps, and never makes replay hold more than the journal bound.
//! Before these bounds, `journal_tail_seq = 0` made mount compute `0 - 1`
//! (a panic in debug builds; in release the wrapped value made a Durable
//! commit skip its flush), and `journal_blocks` had no upper bound.

use std::collections::BTreeMap;

use block::{
    BlockDevice, BlockStore, Config, Corruption, DeviceError, Durability, Error, MemDevice,
    Transactional, BLOCK_SIZE,
};
use crc::{Crc, CRC_32_ISCSI};

// Superblock offsets and bounds, from the byte layout in `superblock.rs`.
const OFF_BLOCK_COUNT: usize = 16;
const OFF_GENERATION: usize = 24;
const OFF_BITMAP_BLOCKS: usize = 40;
const OFF_JOURNAL_START: usize = 48;
const OFF_JOURNAL_BLOCKS: usize = 56;
const OFF_ROOT_START: usize = 64;
const OFF_DATA_START: usize = 80;
const OFF_JOURNAL_EPOCH: usize = 88;
const OFF_JOURNAL_TAIL_SEQ: usize = 104;
const OFF_CHECKSUM: usize = 508;
const MAX_COUNTER: u64 = 1 << 62;
const MAX_JOURNAL_BLOCKS: u64 = 16 * 1024;

fn config() -> Config {
    Config::default_small()
}

/// A store with one committed transaction, unmounted cleanly.
fn formatted() -> MemDevice {
    let mut s = BlockStore::format(MemDevice::new(300), config()).unwrap();
    s.begin().unwrap();
    let r = s.root_block(0);
    s.write(r, &vec![7; BLOCK_SIZE]).unwrap();
    s.commit(Durability::Durable).unwrap();
    s.unmount().unwrap()
}

/// Sets `fields` (offset, value) in both superblock copies and seals them
/// with a right checksum, as a crafted disk would.
fn craft(dev: &mut impl BlockDevice, fields: &[(usize, u64)]) {
    for copy in [0u64, 1] {
        let mut b = vec![0u8; BLOCK_SIZE];
        dev.read(copy, &mut b).unwrap();
        for &(at, value) in fields {
            b[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        b[OFF_CHECKSUM..OFF_CHECKSUM + 4].fill(0);
        let crc = Crc::<u32>::new(&CRC_32_ISCSI).checksum(&b[..512]);
        b[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&crc.to_le_bytes());
        dev.write(copy, &b).unwrap();
    }
}

fn field(dev: &mut impl BlockDevice, at: usize) -> u64 {
    let mut b = vec![0u8; BLOCK_SIZE];
    dev.read(0, &mut b).unwrap();
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Mounts and expects the refusal to name `name` and `value`.
fn assert_refused<D: BlockDevice>(dev: D, name: &str, value: u64) {
    match BlockStore::mount(dev, config()) {
        Err(
            e @ Error::Corrupt {
                detail: Corruption::Field { name: n, value: v },
                ..
            },
        ) => {
            assert_eq!((n, v), (name, value), "{e}");
            let text = e.to_string();
            assert!(
                text.contains(name) && text.contains(&value.to_string()),
                "{text}"
            );
        }
        Err(e) => panic!("expected {name} = {value} refused, got {e}"),
        Ok(_) => panic!("expected {name} = {value} refused, the store mounted"),
    }
}

/// A freshly formatted store: its journal holds no record at all.
fn blank() -> MemDevice {
    BlockStore::format(MemDevice::new(300), config())
        .unwrap()
        .unmount()
        .unwrap()
}

#[test]
fn journal_tail_seq_zero_is_refused() {
    // With an empty journal nothing else stops the mount: before the bound
    // it computed `0 - 1` for the last durable sequence number.
    let mut dev = blank();
    craft(&mut dev, &[(OFF_JOURNAL_TAIL_SEQ, 0)]);
    assert_refused(dev, "journal_tail_seq", 0);
}

#[test]
fn journal_tail_seq_near_the_end_of_u64_is_refused() {
    let mut dev = formatted();
    craft(&mut dev, &[(OFF_JOURNAL_TAIL_SEQ, u64::MAX)]);
    assert_refused(dev, "journal_tail_seq", u64::MAX);
}

#[test]
fn journal_epoch_near_the_end_of_u64_is_refused() {
    let mut dev = formatted();
    craft(&mut dev, &[(OFF_JOURNAL_EPOCH, u64::MAX)]);
    assert_refused(dev, "journal_epoch", u64::MAX);
}

#[test]
fn generation_near_the_end_of_u64_is_refused() {
    let mut dev = formatted();
    // Each copy keeps its own generation parity; both are out of bounds.
    craft(&mut dev, &[(OFF_GENERATION, u64::MAX - 1)]);
    assert_refused(dev, "generation", u64::MAX - 1);
}

#[test]
fn counters_at_their_bound_still_mount() {
    let mut dev = formatted();
    craft(
        &mut dev,
        &[
            (OFF_JOURNAL_TAIL_SEQ, MAX_COUNTER),
            (OFF_JOURNAL_EPOCH, MAX_COUNTER - 2),
            (OFF_GENERATION, MAX_COUNTER - 4),
        ],
    );
    let mut s = BlockStore::mount(dev, config()).unwrap();
    let mut b = vec![0u8; BLOCK_SIZE];
    let r = s.root_block(0);
    s.read(r, &mut b).unwrap();
    assert_eq!(b[0], 7);
}

/// A device of `block_count` blocks that stores only the blocks written
/// (the rest read as zeros): a large geometry without the memory.
struct SparseDevice {
    block_count: u64,
    blocks: BTreeMap<u64, Vec<u8>>,
}

impl BlockDevice for SparseDevice {
    fn block_count(&self) -> u64 {
        self.block_count
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        for (i, b) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
            match self.blocks.get(&(first + i as u64)) {
                Some(d) => b.copy_from_slice(d),
                None => b.fill(0),
            }
        }
        Ok(())
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        for (i, d) in data.chunks_exact(BLOCK_SIZE).enumerate() {
            self.blocks.insert(first + i as u64, d.to_vec());
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        Ok(())
    }
}

#[test]
fn journal_larger_than_the_replay_bound_is_refused() {
    // The small store's superblocks, moved onto a large sparse device with
    // a consistent geometry whose journal is one block over the bound.
    let mut small = formatted();
    let mut dev = SparseDevice {
        block_count: 20_000,
        blocks: BTreeMap::new(),
    };
    let mut b = vec![0u8; 2 * BLOCK_SIZE];
    small.read(0, &mut b).unwrap();
    dev.write(0, &b).unwrap();
    let journal_start = field(&mut dev, OFF_JOURNAL_START);
    assert_eq!(field(&mut dev, OFF_BITMAP_BLOCKS), 1);
    let journal_blocks = MAX_JOURNAL_BLOCKS + 1;
    let root_start = journal_start + journal_blocks;
    craft(
        &mut dev,
        &[
            (OFF_BLOCK_COUNT, 20_000),
            (OFF_JOURNAL_BLOCKS, journal_blocks),
            (OFF_ROOT_START, root_start),
            (OFF_DATA_START, root_start + 16),
        ],
    );
    assert_refused(dev, "journal_blocks", journal_blocks);
}

#[test]
fn format_refuses_a_journal_larger_than_the_replay_bound() {
    let config = Config {
        journal_blocks: MAX_JOURNAL_BLOCKS + 1,
        ..config()
    };
    let dev = SparseDevice {
        block_count: 20_000,
        blocks: BTreeMap::new(),
    };
    assert!(matches!(
        BlockStore::format(dev, config),
        Err(Error::BadConfig {
            name: "journal_blocks",
            value
        }) if value == MAX_JOURNAL_BLOCKS + 1
    ));
}
