//! The virtio-blk driver: a ring-3 process that finds virtio-blk disks by
//! PCI enumeration over ECAM, drives them with virtio-drivers (its PCI
//! transport and `VirtQueue`; see `disk.rs` for why not its `VirtIOBlk`),
//! and serves the block protocol of `virtio-blk-api` to its clients.
//!
//! Design principles:
//! - One process, one loop, no threads: requests (reads, writes, flushes)
//!   are submitted without waiting, the loop sleeps in `RECV` until either a call
//!   or the disk's interrupt (a notification bit) arrives, and completes
//!   whatever the device finished. No polling in the steady state.
//! - Several requests in flight per disk (up to `disk::SLOTS`): a large
//!   client request is split into `disk::CHUNK` pieces that run at once, a
//!   batch runs its entries at once, and calls from several clients overlap
//!   (replies are deferred by token); jobs take free slots in turn.
//! - Data moves only through leases and DMA buffers: `LEASE_READ` from the
//!   caller into a slot's DMA buffer before a write, `LEASE_WRITE` from it
//!   after a read. Message words carry only block numbers and counts.
//! - Rights come from the boot configuration: the ECAM pages and BARs this
//!   process may map (`mmio=`), DMA memory (`dma`) and the interrupt lines
//!   (`irq=`). The disk a client reaches is the badge of its endpoint.
//! - Everything a client sends is checked before use
//!   (`virtio_blk_api::check`, host-tested); failures are status codes with
//!   the values seen (`virtio_blk_api::status`).
//!
//! # Invariants
//! - A job is in its disk's queue while it has pieces not yet started; it
//!   is answered exactly once, when it has no piece left to start and none
//!   in flight (a FUA write first goes back to the queue with a flush piece).
//! - Once a job has an error no new piece of it starts; pieces in flight
//!   finish (their slots are the device's until then) before the reply.
#![no_std]
#![no_main]

extern crate alloc;

mod disk;

use virtio_hal::{hal, pci};

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use disk::{DeviceFailure, Disk, Op, Piece, CHUNK_BLOCKS};
use userlib::abi::proto::Wire;
use userlib::abi::Message;
use userlib::ipc::{self, Incoming, ReplyToken};
use userlib::println;
use virtio_blk_api::check;
use virtio_blk_api::{
    info_flags, status, write_flags, Request, BATCH_ENTRY_SIZE, BLOCK_SIZE, MAX_BATCH_ENTRIES,
};
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;

userlib::entry!(main);

/// Boot argument bit: always copy through DMA buffers (no zero copy).
const ARG_COPY_ONLY: u64 = 1 << 16;
/// Smallest piece sent zero-copy. Below it copying the data (~2 GB/s under
/// TCG: 2 µs for 4 KiB) is cheaper than the page walks, the extra syscall
/// and the bookkeeping of a scatter list (measured: 4 KiB requests were
/// ~20 % slower zero-copy).
const ZERO_COPY_MIN_BLOCKS: u64 = 16;

/// A client request: the ranges still to start, the pieces in flight and
/// the first error seen.
struct Job {
    token: Option<ReplyToken>,
    disk: usize,
    /// Not yet started: (op, first block, blocks, lease, lease offset, entry).
    todo: VecDeque<Piece>,
    in_flight: usize,
    /// (status, entry index, first block, detail) of the first failure.
    error: Option<(u64, u64, u64, u64)>,
    /// Flush the device after the last piece, before replying (FUA).
    flush_after: bool,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    blocks_read: u64,
    blocks_written: u64,
    interrupts: u64,
    most_in_flight: u64,
    /// TSC cycles spent copying data between leases and DMA buffers.
    copy_cycles: u64,
    /// Device requests whose data went straight to or from the client.
    direct_pieces: u64,
    /// Device requests whose data was copied through a slot's DMA buffer.
    copied_pieces: u64,
}

struct Driver {
    disks: Vec<Disk>,
    /// Per disk: jobs with pieces still to start, and flush barriers, in
    /// arrival order.
    queues: Vec<VecDeque<usize>>,
    jobs: Vec<Option<Job>>,
    stats: Stats,
    /// Fault injection for the `blk-crash` test (`arg=<n>` in the boot
    /// configuration, bits 0..16): the driver panics right after starting its
    /// n-th device request, with requests in flight. 0 = never.
    die_after: u64,
    /// Zero copy: let the device move data straight to or from the
    /// client's lease (`LEASE_PHYS`). Boot argument bit `ARG_COPY_ONLY`
    /// turns it off (the `blk-copy` test and the bench's comparison).
    zero_copy: bool,
    started: u64,
}

fn reply_status(token: ReplyToken, code: u64, entry: u64, first: u64, detail: u64) {
    let _ = token.reply_message(&Message::new(code, &[entry, first, detail]));
}

fn find_disks() -> Vec<Disk> {
    let mut root = PciRoot::new(pci::GrantedEcam::new());
    let mut found: Vec<(DeviceFunction, u8)> = Vec::new();
    for (df, info) in root.enumerate_bus(0) {
        if virtio_device_type(&info) == Some(DeviceType::Block) {
            found.push((df, 0));
        }
    }
    let mut disks = Vec::new();
    // PciRoot keeps its access private: a second view reads the lines.
    let config = pci::GrantedEcam::new();
    for (df, _) in found {
        // Interrupt line as programmed by the firmware (config 0x3C).
        let line = (config.read_word(df, 0x3C) & 0xFF) as u8;
        root.set_command(
            df,
            Command::MEMORY_SPACE | Command::BUS_MASTER | Command::IO_SPACE,
        );
        let transport = match PciTransport::new::<hal::DmaHal, _>(&mut root, df) {
            Ok(t) => t,
            Err(e) => {
                println!("virtio-blk: {df}: transport failed: {e:?}");
                continue;
            }
        };
        match Disk::new(transport, line) {
            Ok(d) => {
                println!(
                    "virtio-blk: disk {} at {df}: {} sectors ({} blocks of 4096), irq {}, {}",
                    disks.len(),
                    d.sectors,
                    d.block_count,
                    line,
                    if d.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                );
                disks.push(d);
            }
            Err(e) => println!("virtio-blk: {df}: {e}"),
        }
    }
    disks
}

fn irq_bit(line: u8) -> u64 {
    1 << (line & 63)
}

fn main() {
    if let Err(e) = hal::init() {
        println!("virtio-blk: no DMA memory: {e:?}");
        return;
    }
    let disks = find_disks();
    let mut mask = 0u64;
    for d in &disks {
        if mask & irq_bit(d.irq) == 0 {
            if let Err(e) = userlib::sys::irq_bind(d.irq as u64, irq_bit(d.irq)) {
                println!(
                    "virtio-blk: IRQ_BIND {} refused: {e:?} (missing irq= grant?)",
                    d.irq
                );
                return;
            }
            mask |= irq_bit(d.irq);
        }
    }
    println!("virtio-blk: ready, {} disk(s)", disks.len());
    let mut driver = Driver {
        queues: disks.iter().map(|_| VecDeque::new()).collect(),
        disks,
        jobs: Vec::new(),
        stats: Stats::default(),
        die_after: userlib::boot_arg() & 0xFFFF,
        zero_copy: userlib::boot_arg() & ARG_COPY_ONLY == 0,
        started: 0,
    };
    loop {
        for d in 0..driver.disks.len() {
            driver.pump(d);
        }
        match ipc::recv(mask) {
            Ok(Incoming::Notification(bits)) => driver.interrupt(bits),
            Ok(Incoming::Call { badge, token, msg }) => driver.call(badge, token, &msg),
            Err(e) => println!("virtio-blk: recv failed: {e:?}"),
        }
    }
}

impl Driver {
    fn new_job(&mut self, job: Job) -> usize {
        match self.jobs.iter().position(Option::is_none) {
            Some(i) => {
                self.jobs[i] = Some(job);
                i
            }
            None => {
                self.jobs.push(Some(job));
                self.jobs.len() - 1
            }
        }
    }

    fn call(&mut self, badge: u64, token: ReplyToken, msg: &Message) {
        self.stats.requests += 1;
        let request = match Request::decode(msg) {
            Ok(r) => r,
            Err(_) => return reply_status(token, status::BAD_REQUEST, 0, 0, msg.label),
        };
        let Some(disk) = usize::try_from(badge)
            .ok()
            .filter(|&d| d < self.disks.len())
        else {
            return reply_status(token, status::NO_DEVICE, 0, 0, badge);
        };
        let d = &self.disks[disk];
        let (block_count, read_only) = (d.block_count, d.read_only);
        let check_disk = check::Disk {
            block_count,
            read_only,
        };
        let mut job = Job {
            token: None,
            disk,
            todo: VecDeque::new(),
            in_flight: 0,
            error: None,
            flush_after: false,
        };
        match request {
            Request::Info {} => {
                let mut flags = if read_only { info_flags::READ_ONLY } else { 0 };
                if d.has_flush {
                    flags |= info_flags::FLUSH;
                }
                let _ = token.reply_ok(&[block_count, d.sectors, flags, u32::MAX as u64]);
                return;
            }
            Request::Stats {} => {
                let s = &self.stats;
                let _ = token.reply_ok(&[
                    s.requests,
                    s.blocks_read,
                    s.blocks_written,
                    s.interrupts,
                    s.most_in_flight,
                    s.copy_cycles,
                ]);
                return;
            }
            // A flush covers every write completed before it is submitted,
            // which includes every write its caller saw acknowledged; it
            // need not wait for other clients' writes in flight.
            Request::MoreStats {} => {
                let s = &self.stats;
                let bounced = hal::BOUNCED_BYTES.load(core::sync::atomic::Ordering::Relaxed);
                let _ = token.reply_ok(&[s.direct_pieces, s.copied_pieces, bounced]);
                return;
            }
            Request::Flush {} => job.todo.push_back(flush_piece()),
            Request::Read { first, blocks } | Request::Write { first, blocks, .. } => {
                let (write, flags) = match request {
                    Request::Write { flags, .. } => (true, flags),
                    _ => (false, 0),
                };
                match check::check_request(check_disk, write, first, blocks, flags, &msg.leases[0])
                {
                    Ok(t) => job.todo.push_back(piece_of(t)),
                    Err(r) => return refuse(token, r),
                }
                job.flush_after = flags & write_flags::FUA != 0;
            }
            Request::Batch { entries } => {
                let mut table = [0u8; MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE];
                let want = (entries as usize).min(MAX_BATCH_ENTRIES) * BATCH_ENTRY_SIZE;
                let got = token.lease_read(0, 0, &mut table[..want]).unwrap_or(0);
                match check::check_batch(check_disk, entries, &table[..got], &msg.leases[1]) {
                    Ok(transfers) => job.todo = transfers.into_iter().map(piece_of).collect(),
                    Err(r) => return refuse(token, r),
                }
            }
        }
        job.token = Some(token);
        let id = self.new_job(job);
        self.queues[disk].push_back(id);
    }

    /// Starts pieces of the disk's queued jobs, in arrival order, while
    /// slots are free.
    fn pump(&mut self, d: usize) {
        while let Some(&id) = self.queues[d].front() {
            let Some(job) = self.jobs[id].as_mut() else {
                self.queues[d].pop_front();
                continue;
            };
            if job.todo.is_empty() || job.error.is_some() {
                job.todo.clear();
                self.queues[d].pop_front();
                if job.in_flight == 0 {
                    self.finish(id);
                }
                continue;
            }
            let Some(slot) = self.disks[d].free_slot() else {
                return;
            };
            // Split the front range into a piece of at most CHUNK.
            let front = job.todo.front_mut().expect("not empty");
            if front.op == Op::Flush && !self.disks[d].has_flush {
                // No volatile write cache: completed writes are durable.
                job.todo.pop_front();
                continue;
            }
            let blocks = front.blocks.min(CHUNK_BLOCKS);
            let mut piece = *front;
            piece.blocks = blocks;
            piece.job = id;
            front.first += blocks;
            front.blocks -= blocks;
            front.offset += blocks * BLOCK_SIZE as u64;
            if front.blocks == 0 {
                job.todo.pop_front();
            }
            let token = job.token.as_ref().expect("queued jobs hold their token");
            let direct = match piece.op {
                Op::Read | Op::Write if self.zero_copy && piece.blocks >= ZERO_COPY_MIN_BLOCKS => {
                    direct_segments(token, &piece)
                }
                _ => None,
            };
            if let Some(segments) = direct {
                match self.disks[d].start_direct(slot, piece, &segments) {
                    Ok(()) => {
                        self.stats.direct_pieces += 1;
                        job.in_flight += 1;
                        self.after_start(d);
                    }
                    Err(e) => job.error = Some((status_of(e), piece.entry, piece.first, 0)),
                }
                continue;
            }
            if piece.op == Op::Write {
                let len = blocks as usize * BLOCK_SIZE;
                let token = job.token.as_ref().expect("queued jobs hold their token");
                let buf = &mut self.disks[d].buffer(slot)[..len];
                let t0 = userlib::sys::rdtsc();
                let copied = token.lease_read(piece.lease, piece.offset, buf);
                self.stats.copy_cycles += userlib::sys::rdtsc() - t0;
                match copied {
                    Ok(n) if n == len => {}
                    _ => {
                        job.error = Some((status::BAD_LEASE, piece.entry, piece.first, 0));
                        continue;
                    }
                }
            }
            match self.disks[d].start(slot, piece) {
                Ok(()) => {
                    job.in_flight += 1;
                    if piece.op != Op::Flush {
                        self.stats.copied_pieces += 1;
                    }
                    self.after_start(d);
                }
                Err(e) => job.error = Some((status_of(e), piece.entry, piece.first, 0)),
            }
        }
    }

    /// Bookkeeping after a device request of the job at the head of disk
    /// `d`'s queue started. If that job has more pieces it goes to the back
    /// of the queue, so jobs of several clients take the slots in turn and
    /// a small request does not wait for every piece of a large one.
    fn after_start(&mut self, d: usize) {
        let queue = &mut self.queues[d];
        if let Some(&id) = queue.front() {
            let more = self.jobs[id]
                .as_ref()
                .is_some_and(|j| !j.todo.is_empty() && j.error.is_none());
            if more && queue.len() > 1 {
                queue.rotate_left(1);
            }
        }
        let now = self.disks[d].in_flight as u64;
        self.stats.most_in_flight = self.stats.most_in_flight.max(now);
        self.started += 1;
        if self.started == self.die_after {
            panic!("fault injection: dying with {now} requests in flight");
        }
    }

    /// The disks on the interrupt lines in `bits` have finished requests.
    fn interrupt(&mut self, bits: u64) {
        self.stats.interrupts += 1;
        for d in 0..self.disks.len() {
            if bits & irq_bit(self.disks[d].irq) == 0 {
                continue;
            }
            self.disks[d].ack_interrupt();
            while let Some(done) = self.disks[d].complete_next() {
                self.completed(d, done);
            }
        }
        let mut acked = 0u64;
        for disk in &self.disks {
            let bit = irq_bit(disk.irq);
            if bits & bit != 0 && acked & bit == 0 {
                let _ = userlib::sys::irq_ack(disk.irq as u64);
                acked |= bit;
            }
        }
    }

    fn completed(&mut self, d: usize, done: disk::Completion) {
        let piece = done.piece;
        let Some(job) = self.jobs.get_mut(piece.job).and_then(Option::as_mut) else {
            return;
        };
        job.in_flight -= 1;
        match done.result {
            Ok(()) if piece.op == Op::Read && done.direct => {
                self.stats.blocks_read += piece.blocks;
            }
            Ok(()) if piece.op == Op::Read => {
                self.stats.blocks_read += piece.blocks;
                let len = piece.blocks as usize * BLOCK_SIZE;
                let data = &self.disks[d].buffer(done.slot)[..len];
                let token = job.token.as_ref().expect("running jobs hold their token");
                if job.error.is_none() {
                    let t0 = userlib::sys::rdtsc();
                    let copied = token.lease_write(piece.lease, piece.offset, data);
                    self.stats.copy_cycles += userlib::sys::rdtsc() - t0;
                    match copied {
                        Ok(n) if n == len => {}
                        _ => job.error = Some((status::BAD_LEASE, piece.entry, piece.first, 0)),
                    }
                }
            }
            Ok(()) if piece.op == Op::Write => self.stats.blocks_written += piece.blocks,
            Ok(()) => {}
            Err(e) => {
                if job.error.is_none() {
                    job.error = Some((status_of(e), piece.entry, piece.first, 0));
                }
            }
        }
        if job.in_flight == 0 && (job.todo.is_empty() || job.error.is_some()) {
            job.todo.clear();
            if !self.queues[d].contains(&piece.job) {
                self.finish(piece.job);
            }
        }
    }

    /// Replies to a job whose pieces have all completed (or turns a FUA
    /// write into a flush barrier at the head of its disk's queue).
    fn finish(&mut self, id: usize) {
        let Some(mut job) = self.jobs[id].take() else {
            return;
        };
        if job.flush_after && job.error.is_none() {
            job.flush_after = false;
            job.todo.push_back(flush_piece());
            let d = job.disk;
            self.jobs[id] = Some(job);
            self.queues[d].push_back(id);
            return;
        }
        if let Some(token) = job.token.take() {
            match job.error {
                None => {
                    let _ = token.reply_ok(&[]);
                }
                Some((code, entry, first, detail)) => {
                    reply_status(token, code, entry, first, detail)
                }
            }
        }
    }
}

fn status_of(e: DeviceFailure) -> u64 {
    match e {
        DeviceFailure::Unsupported => status::UNSUPPORTED,
        DeviceFailure::Io(_) | DeviceFailure::Queue(_) => status::IO_ERROR,
    }
}

fn flush_piece() -> Piece {
    Piece {
        op: Op::Flush,
        first: 0,
        blocks: 0,
        job: 0,
        lease: 0,
        offset: 0,
        entry: 0,
    }
}

/// The caller's memory behind `piece` as physically contiguous runs, so the
/// device can move the data itself; `None` (copy through a DMA buffer) if
/// the kernel refuses or the piece needs more than `MAX_SEGMENTS` runs.
fn direct_segments(token: &ReplyToken, piece: &Piece) -> Option<Vec<(u64, u64)>> {
    let access = if piece.op == Op::Read {
        userlib::abi::lease::WRITE
    } else {
        userlib::abi::lease::READ
    };
    let len = piece.blocks * BLOCK_SIZE as u64;
    let mut segments: Vec<(u64, u64)> = Vec::new();
    let mut done = 0;
    while done < len {
        let (phys, run) =
            userlib::sys::lease_phys(token.raw(), piece.lease, piece.offset + done, access).ok()?;
        let n = run.min(len - done);
        if n == 0 {
            return None;
        }
        match segments.last_mut() {
            Some(last) if last.0 + last.1 == phys => last.1 += n,
            _ => segments.push((phys, n)),
        }
        if segments.len() > disk::MAX_SEGMENTS {
            return None;
        }
        done += n;
    }
    Some(segments)
}

/// The piece of work a checked transfer becomes.
fn piece_of(t: check::Transfer) -> Piece {
    Piece {
        op: if t.write { Op::Write } else { Op::Read },
        first: t.first,
        blocks: t.blocks,
        job: 0,
        lease: t.lease,
        offset: t.offset,
        entry: t.entry,
    }
}

fn refuse(token: ReplyToken, r: check::Refusal) {
    reply_status(token, r.status, r.entry, r.first, r.detail)
}
