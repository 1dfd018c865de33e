//! A fake driver for `DiskClient` host tests: an in-memory disk behind the
//! real `blk` dispatch (through `abi::fake`), refusing with the real checks
//! (`check`), answering deferred calls at once.
#![allow(dead_code)] // each test file uses part of it

use abi::fake::{FakeCaller, Loopback};
use abi::iface::{Caller, Pending};
use abi::Lease;
use virtio_blk_api::check::{self, Disk};
use virtio_blk_api::{
    blk, BlkError, DiskClient, Info, MoreStats, Stats, BATCH_ENTRY_SIZE, BLOCK_SIZE,
    MAX_BATCH_ENTRIES,
};

pub struct FakeDriver {
    pub disk: Disk,
    pub data: Vec<u8>,
    /// Calls of each kind the driver saw.
    pub transfers: u64,
    pub batches: u64,
    /// Fails the next device request touching this block.
    pub bad_block: Option<u64>,
}

type Job = Pending<FakeCaller, (), BlkError>;

impl FakeDriver {
    pub fn new(block_count: u64, read_only: bool) -> FakeDriver {
        FakeDriver {
            disk: Disk {
                block_count,
                read_only,
            },
            data: vec![0; block_count as usize * BLOCK_SIZE],
            transfers: 0,
            batches: 0,
            bad_block: None,
        }
    }

    /// Moves the checked transfer's data between the disk and the lease.
    fn run(&mut self, caller: &FakeCaller, t: check::Transfer) -> Result<(), BlkError> {
        if self
            .bad_block
            .is_some_and(|b| (t.first..t.first + t.blocks).contains(&b))
        {
            return Err(BlkError::IoError {
                entry: t.entry,
                first: t.first,
            });
        }
        let at = t.first as usize * BLOCK_SIZE;
        let len = t.blocks as usize * BLOCK_SIZE;
        let bytes = &mut self.data[at..at + len];
        let copied = if t.write {
            caller.lease_read(t.lease as usize, t.offset, bytes)
        } else {
            caller.lease_write(t.lease as usize, t.offset, bytes)
        };
        match copied {
            Ok(n) if n == len => Ok(()),
            _ => Err(BlkError::BadLease {
                entry: t.entry,
                first: t.first,
                len: len as u64,
            }),
        }
    }

    fn transfer(
        &mut self,
        job: Job,
        write: bool,
        first: u64,
        blocks: u64,
        flags: u64,
        lease: Lease,
    ) {
        self.transfers += 1;
        let result = check::check_request(self.disk, write, first, blocks, flags, &lease)
            .map_err(BlkError::from_refusal)
            .and_then(|t| self.run(job.caller(), t));
        job.reply(result).expect("the fake caller waits");
    }
}

impl blk::Server<FakeCaller> for FakeDriver {
    fn info(&mut self, _badge: u64) -> Result<Info, BlkError> {
        Ok(Info {
            block_count: self.disk.block_count,
            sectors: self.disk.block_count * 8,
            flags: if self.disk.read_only { 1 } else { 0 },
            max_blocks: u32::MAX as u64,
        })
    }

    fn read(&mut self, _badge: u64, job: Job, first: u64, blocks: u64, buf: Lease) {
        self.transfer(job, false, first, blocks, 0, buf);
    }

    fn write(&mut self, _badge: u64, job: Job, first: u64, blocks: u64, flags: u64, data: Lease) {
        self.transfer(job, true, first, blocks, flags, data);
    }

    fn flush(&mut self, _badge: u64, job: Job) {
        job.reply(Ok(())).expect("the fake caller waits");
    }

    fn batch(&mut self, _badge: u64, job: Job, entries: u64, _table: Lease, data: Lease) {
        self.batches += 1;
        let mut table = [0u8; MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE];
        let got = job.caller().lease_read(0, 0, &mut table).unwrap_or(0);
        let result = check::check_batch(self.disk, entries, &table[..got], &data)
            .map_err(BlkError::from_refusal)
            .and_then(|ts| ts.into_iter().try_for_each(|t| self.run(job.caller(), t)));
        job.reply(result).expect("the fake caller waits");
    }

    fn stats(&mut self, _badge: u64) -> Result<Stats, BlkError> {
        Ok(Stats {
            requests: self.transfers + self.batches,
            blocks_read: 0,
            blocks_written: 0,
            interrupts: 0,
            most_in_flight: 1,
            copy_cycles: 0,
        })
    }

    fn more_stats(&mut self, _badge: u64) -> Result<MoreStats, BlkError> {
        Ok(MoreStats {
            direct_pieces: 0,
            copied_pieces: self.transfers,
            bounced_bytes: 0,
            notifications: 0,
        })
    }
}

abi::serve_with!(FakeDriver, blk);

/// A client of a fresh fake disk.
pub fn client(block_count: u64, read_only: bool) -> DiskClient<Loopback<FakeDriver>> {
    DiskClient::connect(Loopback::new(FakeDriver::new(block_count, read_only)))
        .expect("info answers")
}

/// `blocks` blocks of a pattern named by `seed`.
pub fn pattern(blocks: usize, seed: u8) -> Vec<u8> {
    (0..blocks * BLOCK_SIZE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
