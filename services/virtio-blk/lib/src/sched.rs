//! The scheduler of one disk: its jobs, its queue of jobs with pieces to
//! start, and its slot table (see the crate invariants).

use crate::{Device, Failure, Op, Piece, Refusal};
use abi::Lease;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use virtio_blk_api::{check, write_flags, BLOCK_SIZE};

/// A client request: the ranges still to start, the pieces in flight and
/// the first error seen.
struct Job<C> {
    client: C,
    /// Not yet started (each range at most one chunk once it starts).
    todo: VecDeque<Piece>,
    in_flight: usize,
    error: Option<Refusal>,
    /// Flush the device after the last piece, before replying (FUA).
    flush_after: bool,
}

/// Counts a `Stats` request reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub blocks_read: u64,
    pub blocks_written: u64,
    /// Most device requests in flight at once.
    pub most_in_flight: u64,
    /// Device requests started.
    pub started: u64,
}

pub struct Scheduler<C> {
    disk: check::Disk,
    chunk_blocks: u64,
    /// Per slot: the job and piece the device is working on.
    slots: Vec<Option<(usize, Piece)>>,
    jobs: Vec<Option<Job<C>>>,
    /// Jobs with pieces still to start, in turn order.
    queue: VecDeque<usize>,
    pub counters: Counters,
}

fn refusal(e: Failure, piece: &Piece) -> Refusal {
    Refusal {
        status: e.status(),
        entry: piece.entry,
        first: piece.first,
        detail: 0,
    }
}

fn piece_of(t: check::Transfer) -> Piece {
    Piece {
        op: if t.write { Op::Write } else { Op::Read },
        first: t.first,
        blocks: t.blocks,
        lease: t.lease,
        offset: t.offset,
        entry: t.entry,
    }
}

fn flush_piece() -> Piece {
    Piece {
        op: Op::Flush,
        first: 0,
        blocks: 0,
        lease: 0,
        offset: 0,
        entry: 0,
    }
}

impl<C> Scheduler<C> {
    /// A scheduler for `disk` with `slots` request slots, each taking a
    /// piece of at most `chunk_blocks` blocks (at least 1).
    pub fn new(disk: check::Disk, slots: usize, chunk_blocks: u64) -> Scheduler<C> {
        Scheduler {
            disk,
            chunk_blocks: chunk_blocks.max(1),
            slots: (0..slots).map(|_| None).collect(),
            jobs: Vec::new(),
            queue: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// Device requests in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Jobs not yet answered.
    pub fn jobs_open(&self) -> usize {
        self.jobs.iter().filter(|j| j.is_some()).count()
    }

    /// A `Read` or `Write` of `blocks` blocks at `first`, data in `lease0`:
    /// checked, then queued (or refused to `client` at once).
    #[allow(clippy::too_many_arguments)] // the request's own fields
    pub fn submit_transfer<D: Device<Client = C>>(
        &mut self,
        dev: &mut D,
        client: C,
        write: bool,
        first: u64,
        blocks: u64,
        flags: u64,
        lease0: &Lease,
    ) {
        match check::check_request(self.disk, write, first, blocks, flags, lease0) {
            Ok(t) => {
                let fua = flags & write_flags::FUA != 0;
                self.queue_job(client, [piece_of(t)].into_iter().collect(), fua)
            }
            Err(r) => dev.reply(client, Err(r)),
        }
    }

    /// A batch of `entries` entries (`table` as read from lease 0, data in
    /// `data`): every entry checked before any is queued.
    pub fn submit_batch<D: Device<Client = C>>(
        &mut self,
        dev: &mut D,
        client: C,
        entries: u64,
        table: &[u8],
        data: &Lease,
    ) {
        match check::check_batch(self.disk, entries, table, data) {
            Ok(transfers) => {
                self.queue_job(client, transfers.into_iter().map(piece_of).collect(), false)
            }
            Err(r) => dev.reply(client, Err(r)),
        }
    }

    /// A `Flush`. It covers every write completed before it starts, which
    /// includes every write its caller saw acknowledged; it need not wait
    /// for other clients' writes in flight.
    pub fn submit_flush(&mut self, client: C) {
        self.queue_job(client, [flush_piece()].into_iter().collect(), false)
    }

    fn queue_job(&mut self, client: C, todo: VecDeque<Piece>, flush_after: bool) {
        let job = Job {
            client,
            todo,
            in_flight: 0,
            error: None,
            flush_after,
        };
        let id = match self.jobs.iter().position(Option::is_none) {
            Some(i) => {
                self.jobs[i] = Some(job);
                i
            }
            None => {
                self.jobs.push(Some(job));
                self.jobs.len() - 1
            }
        };
        self.queue.push_back(id);
    }

    /// Starts pieces of the queued jobs, in turn, while slots are free.
    pub fn pump<D: Device<Client = C>>(&mut self, dev: &mut D) {
        while let Some(&id) = self.queue.front() {
            let Some(job) = self.jobs[id].as_mut() else {
                self.queue.pop_front();
                continue;
            };
            if job.todo.is_empty() || job.error.is_some() {
                job.todo.clear();
                self.queue.pop_front();
                if job.in_flight == 0 {
                    self.finish(dev, id);
                }
                continue;
            }
            let Some(slot) = self.slots.iter().position(Option::is_none) else {
                return;
            };
            let Some(front) = job.todo.front_mut() else {
                continue; // not reached: checked non-empty above
            };
            if front.op == Op::Flush && !dev.has_flush() {
                // No volatile write cache: completed writes are durable.
                job.todo.pop_front();
                continue;
            }
            // Split a piece of at most a chunk off the front range.
            let blocks = front.blocks.min(self.chunk_blocks);
            let piece = Piece { blocks, ..*front };
            front.first += blocks;
            front.blocks -= blocks;
            front.offset += blocks * BLOCK_SIZE as u64;
            if front.blocks == 0 {
                job.todo.pop_front();
            }
            match dev.start(slot, &piece, &job.client) {
                Ok(()) => {
                    job.in_flight += 1;
                    self.slots[slot] = Some((id, piece));
                    self.after_start(id);
                }
                Err(e) => job.error = Some(refusal(e, &piece)),
            }
        }
    }

    /// Bookkeeping after a piece of job `id` (the head of the queue)
    /// started: if the job has more pieces it goes to the back, so jobs take
    /// the slots in turn.
    fn after_start(&mut self, id: usize) {
        let more = self.jobs[id]
            .as_ref()
            .is_some_and(|j| !j.todo.is_empty() && j.error.is_none());
        if more && self.queue.len() > 1 {
            self.queue.rotate_left(1);
        }
        let now = self.in_flight() as u64;
        self.counters.most_in_flight = self.counters.most_in_flight.max(now);
        self.counters.started += 1;
    }

    /// The device finished the request in `slot` with `result`. `direct`:
    /// the data already moved to or from the client (nothing to deliver).
    /// A slot with no piece (a device breaking the protocol) is ignored
    /// and returns false.
    pub fn complete<D: Device<Client = C>>(
        &mut self,
        dev: &mut D,
        slot: usize,
        result: Result<(), Failure>,
        direct: bool,
    ) -> bool {
        let Some((id, piece)) = self.slots.get_mut(slot).and_then(Option::take) else {
            return false;
        };
        let Some(job) = self.jobs.get_mut(id).and_then(Option::as_mut) else {
            return false;
        };
        job.in_flight -= 1;
        match result {
            Ok(()) if piece.op == Op::Read => {
                self.counters.blocks_read += piece.blocks;
                if !direct && job.error.is_none() {
                    if let Err(e) = dev.deliver(slot, &piece, &job.client) {
                        job.error = Some(refusal(e, &piece));
                    }
                }
            }
            Ok(()) if piece.op == Op::Write => self.counters.blocks_written += piece.blocks,
            Ok(()) => {}
            Err(e) => {
                if job.error.is_none() {
                    job.error = Some(refusal(e, &piece));
                }
            }
        }
        if job.in_flight == 0 && (job.todo.is_empty() || job.error.is_some()) {
            job.todo.clear();
            if !self.queue.contains(&id) {
                self.finish(dev, id);
            }
        }
        true
    }

    /// Answers a job whose pieces have all completed (or turns a FUA write
    /// into a flush at the back of the queue).
    fn finish<D: Device<Client = C>>(&mut self, dev: &mut D, id: usize) {
        let Some(mut job) = self.jobs[id].take() else {
            return;
        };
        if job.flush_after && job.error.is_none() {
            job.flush_after = false;
            job.todo.push_back(flush_piece());
            self.jobs[id] = Some(job);
            self.queue.push_back(id);
            return;
        }
        dev.reply(job.client, job.error.map_or(Ok(()), Err));
    }
}
