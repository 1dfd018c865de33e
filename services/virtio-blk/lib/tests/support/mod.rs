//! A fake disk behind `virtio_blk_sched::Device`: block storage in memory,
//! one buffer per request slot, client leases as byte vectors, and a log of
//! what the device saw. The test decides when and in which order the device
//! finishes its requests.
#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use virtio_blk_api::check::Disk;
use virtio_blk_api::BLOCK_SIZE;
use virtio_blk_sched::{Device, Failure, Op, Piece, Refusal, Scheduler};

pub type Client = u32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Started(Client, Piece),
    Completed(Client, Piece),
    Replied(Client, Result<(), Refusal>),
}

pub struct FakeDisk {
    pub storage: Vec<u8>,
    pub has_flush: bool,
    slot_bufs: Vec<Vec<u8>>,
    /// Per slot: the request the device is working on.
    running: Vec<Option<(Client, Piece)>>,
    /// (client, lease index) -> the lent bytes.
    pub leases: HashMap<(Client, u64), Vec<u8>>,
    pub log: Vec<Event>,
    /// Requests touching these blocks fail with an I/O error.
    pub bad_blocks: Vec<u64>,
    /// `deliver` to these clients fails (their lease went bad).
    pub bad_leases: Vec<Client>,
}

impl FakeDisk {
    pub fn new(blocks: u64, slots: usize) -> FakeDisk {
        FakeDisk {
            storage: (0..blocks as usize * BLOCK_SIZE)
                .map(|i| (i / BLOCK_SIZE) as u8)
                .collect(),
            has_flush: true,
            slot_bufs: vec![vec![0; 64 * BLOCK_SIZE]; slots],
            running: vec![None; slots],
            leases: HashMap::new(),
            log: Vec::new(),
            bad_blocks: Vec::new(),
            bad_leases: Vec::new(),
        }
    }

    pub fn disk(&self, read_only: bool) -> Disk {
        Disk {
            block_count: (self.storage.len() / BLOCK_SIZE) as u64,
            read_only,
        }
    }

    /// Slots with a request in the device.
    pub fn busy(&self) -> Vec<usize> {
        (0..self.running.len())
            .filter(|&s| self.running[s].is_some())
            .collect()
    }

    /// The slot working on `client`'s piece starting at block `first`.
    pub fn slot_of(&self, client: Client, first: u64) -> Option<usize> {
        self.running
            .iter()
            .position(|r| matches!(r, Some((c, p)) if *c == client && p.first == first))
    }

    /// The device finishes the request in `slot` and the driver completes it.
    pub fn finish(&mut self, sched: &mut Scheduler<Client>, slot: usize) {
        let (client, piece) = self.running[slot].take().expect("a request in that slot");
        let range =
            piece.first as usize * BLOCK_SIZE..(piece.first + piece.blocks) as usize * BLOCK_SIZE;
        let len = range.len();
        let fails = (piece.first..piece.first + piece.blocks).any(|b| self.bad_blocks.contains(&b));
        let result = if fails {
            Err(Failure::Io(1))
        } else {
            match piece.op {
                Op::Read => self.slot_bufs[slot][..len].copy_from_slice(&self.storage[range]),
                Op::Write => self.storage[range].copy_from_slice(&self.slot_bufs[slot][..len]),
                Op::Flush => {}
            }
            Ok(())
        };
        self.log.push(Event::Completed(client, piece));
        assert!(sched.complete(self, slot, result, false));
    }

    /// Pumps and finishes requests, `pick` choosing which busy slot the
    /// device finishes next, until no job is open.
    pub fn run(&mut self, sched: &mut Scheduler<Client>, mut pick: impl FnMut(&[usize]) -> usize) {
        for _ in 0..100_000 {
            sched.pump(self);
            let busy = self.busy();
            if busy.is_empty() {
                assert_eq!(sched.jobs_open(), 0, "jobs left with nothing in flight");
                return;
            }
            let slot = busy[pick(&busy) % busy.len()];
            self.finish(sched, slot);
        }
        panic!("the scheduler did not settle");
    }

    pub fn replies(&self) -> Vec<(Client, Result<(), Refusal>)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Replied(c, r) => Some((*c, *r)),
                _ => None,
            })
            .collect()
    }

    pub fn started(&self) -> Vec<(Client, Piece)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Started(c, p) => Some((*c, *p)),
                _ => None,
            })
            .collect()
    }

    /// Position in the log of the first event matching `f`.
    pub fn position(&self, f: impl Fn(&Event) -> bool) -> Option<usize> {
        self.log.iter().position(f)
    }
}

impl Device for FakeDisk {
    type Client = Client;

    fn has_flush(&self) -> bool {
        self.has_flush
    }

    fn start(&mut self, slot: usize, piece: &Piece, client: &Client) -> Result<(), Failure> {
        assert!(self.running[slot].is_none(), "slot {slot} started twice");
        assert!(piece.op == Op::Flush || piece.blocks > 0);
        if piece.op == Op::Write {
            let len = piece.blocks as usize * BLOCK_SIZE;
            let lease = self
                .leases
                .get(&(*client, piece.lease))
                .ok_or(Failure::BadLease)?;
            let data = lease
                .get(piece.offset as usize..piece.offset as usize + len)
                .ok_or(Failure::BadLease)?;
            self.slot_bufs[slot][..len].copy_from_slice(data);
        }
        self.running[slot] = Some((*client, *piece));
        self.log.push(Event::Started(*client, *piece));
        Ok(())
    }

    fn deliver(&mut self, slot: usize, piece: &Piece, client: &Client) -> Result<(), Failure> {
        if self.bad_leases.contains(client) {
            return Err(Failure::BadLease);
        }
        let len = piece.blocks as usize * BLOCK_SIZE;
        let lease = self
            .leases
            .get_mut(&(*client, piece.lease))
            .ok_or(Failure::BadLease)?;
        let out = lease
            .get_mut(piece.offset as usize..piece.offset as usize + len)
            .ok_or(Failure::BadLease)?;
        out.copy_from_slice(&self.slot_bufs[slot][..len]);
        Ok(())
    }

    fn reply(&mut self, client: Client, result: Result<(), Refusal>) {
        self.log.push(Event::Replied(client, result));
    }
}

/// A lease descriptor of `len` bytes with `flags` (the address is not
/// used by the scheduler).
pub fn lease(len: usize, flags: u64) -> abi::Lease {
    abi::Lease {
        addr: 0x40_0000,
        len: len as u64,
        flags,
    }
}
