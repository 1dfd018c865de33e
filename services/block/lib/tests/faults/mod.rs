//! A fault-injecting device for the device-error tests: a `MemDevice` whose
//! reads of chosen blocks, writes and flushes fail while switched on.

#![allow(dead_code)]

use std::collections::BTreeSet;

use block::{BlockDevice, BlockStore, Config, DeviceError, Durability, MemDevice, Transactional};

/// The error code the faulty device reports (the value is arbitrary).
pub const CODE: i32 = 1;

#[derive(Clone)]
pub struct Faulty {
    pub inner: MemDevice,
    /// Reads touching any of these blocks fail (naming the first bad block).
    pub bad_reads: BTreeSet<u64>,
    /// Every write fails while set.
    pub fail_writes: bool,
    /// Every flush fails while set.
    pub fail_flushes: bool,
}

impl Faulty {
    pub fn new(inner: MemDevice) -> Self {
        Faulty {
            inner,
            bad_reads: BTreeSet::new(),
            fail_writes: false,
            fail_flushes: false,
        }
    }
}

impl BlockDevice for Faulty {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let end = first + (buf.len() / block::BLOCK_SIZE) as u64;
        if let Some(&bad) = self.bad_reads.range(first..end).next() {
            return Err(DeviceError::Io {
                first: bad,
                code: CODE,
            });
        }
        self.inner.read(first, buf)
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        if self.fail_writes {
            return Err(DeviceError::Io { first, code: CODE });
        }
        self.inner.write(first, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.fail_flushes {
            return Err(DeviceError::Io {
                first: 0,
                code: CODE,
            });
        }
        Ok(())
    }
}

pub fn config() -> Config {
    Config {
        cache_blocks: 16,
        journal_blocks: 32,
        group_commit_blocks: 8,
    }
}

/// A store holding three committed, checkpointed data blocks (contents
/// 1, 2, 3 repeated), mounted afresh so nothing is cached.
pub fn store_with_three_blocks() -> (BlockStore<Faulty>, [u64; 3]) {
    let mut s = BlockStore::format(Faulty::new(MemDevice::new(256)), config()).unwrap();
    s.begin().unwrap();
    let e = s.allocate(3).unwrap();
    for i in 0..3u8 {
        s.write(e.start + i as u64, &[i + 1; block::BLOCK_SIZE])
            .unwrap();
    }
    s.commit(Durability::Durable).unwrap();
    let dev = s.unmount().unwrap();
    let s = BlockStore::mount(dev, config()).unwrap();
    (s, [e.start, e.start + 1, e.start + 2])
}

/// Reads one block and returns its first byte.
pub fn first_byte(s: &mut BlockStore<Faulty>, block: u64) -> Result<u8, block::Error> {
    let mut buf = vec![0u8; block::BLOCK_SIZE];
    s.read(block, &mut buf)?;
    Ok(buf[0])
}
