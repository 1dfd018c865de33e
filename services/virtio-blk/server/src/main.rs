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
//! - Several requests in flight per disk (up to `disk::SLOTS`): the
//!   request layer (jobs split into `disk::CHUNK` pieces, slots taken in
//!   turn, completion, the flush after a FUA write) is the host-tested
//!   library `virtio-blk-sched`; this process gives it the device and the
//!   client side (`Port`, its `Device`) and replies by deferred token.
//! - Data moves only through leases and DMA buffers: `LEASE_READ` from the
//!   caller into a slot's DMA buffer before a write, `LEASE_WRITE` from it
//!   after a read, or the device straight to or from the caller's memory
//!   (`LEASE_PHYS`, zero copy). Message words carry only block numbers and
//!   counts.
//! - Rights come from the boot configuration: the ECAM pages and BARs this
//!   process may map (`mmio=`), DMA memory (`dma`) and the interrupt lines
//!   (`irq=`). The disk a client reaches is the badge of its endpoint.
//! - The interface is declared once (`virtio_blk_api::blk`): this process
//!   implements its `Server` trait; the generated dispatch decodes and
//!   checks each call (arguments, leases) and the reads, writes, flushes and
//!   batches are `deferred` operations, answered by the scheduler through
//!   their `Pending` when the device completes them.
//! - Everything a client sends is checked before use
//!   (`virtio_blk_api::check`, host-tested); failures are typed
//!   `BlkError`s with the values seen.
#![no_std]
#![no_main]

extern crate alloc;

mod disk;

use virtio_hal::{hal, pci};

use alloc::vec::Vec;
use disk::{Disk, CHUNK_BLOCKS};
use userlib::abi::iface::Pending;
use userlib::abi::Lease;
use userlib::ipc::{self, Incoming, ReplyToken};
use userlib::println;
use virtio_blk_api::check;
use virtio_blk_api::{
    blk, info_flags, BlkError, Info, MoreStats, Stats as StatsReply, BATCH_ENTRY_SIZE, BLOCK_SIZE,
    MAX_BATCH_ENTRIES,
};
use virtio_blk_sched::{Device, Failure, Op, Piece, Refusal, Scheduler};
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};

userlib::entry!(main);

/// Boot argument bit: always copy through DMA buffers (no zero copy).
const ARG_COPY_ONLY: u64 = 1 << 16;
/// Smallest piece sent zero-copy. Below it copying the data (~2 GB/s under
/// TCG: 2 µs for 4 KiB) is cheaper than the page walks, the extra syscall
/// and the bookkeeping of a scatter list (measured: 4 KiB requests were
/// ~20 % slower zero-copy).
const ZERO_COPY_MIN_BLOCKS: u64 = 16;

/// What `Stats`/`MoreStats` report beside the schedulers' `Counters`.
#[derive(Default)]
struct Stats {
    requests: u64,
    interrupts: u64,
    /// TSC cycles spent copying data between leases and DMA buffers.
    copy_cycles: u64,
    /// Device requests whose data went straight to or from the client.
    direct_pieces: u64,
    /// Device requests whose data was copied through a slot's DMA buffer.
    copied_pieces: u64,
}

struct Driver {
    disks: Vec<Disk>,
    /// Per disk: its jobs, queue and slots.
    scheds: Vec<Scheduler<Job>>,
    stats: Stats,
    /// Fault injection for the `blk-crash` test (`arg=<n>` in the boot
    /// configuration, bits 0..16): the driver panics right after starting its
    /// n-th device request, with requests in flight. 0 = never; a restarted
    /// incarnation (`WHOAMI`) never dies this way.
    die_after: u64,
    /// Zero copy: let the device move data straight to or from the
    /// client's lease (`LEASE_PHYS`). Boot argument bit `ARG_COPY_ONLY`
    /// turns it off (the `blk-copy` test and the bench's comparison).
    zero_copy: bool,
    started: u64,
}

/// One disk and the clients' leases, as the scheduler sees them.
struct Port<'a> {
    disk: &'a mut Disk,
    stats: &'a mut Stats,
    zero_copy: bool,
    die_after: u64,
    started: &'a mut u64,
}

/// A read, write, flush or batch call, answered when the device is done.
type Job = Pending<ReplyToken, (), BlkError>;

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
        // Bus mastering only after a device reset: a restarted driver's
        // device may still hold requests of the dead incarnation, whose
        // DMA memory the kernel has handed out again; the reset drains them
        // (kernel/SYSCALLS.md, "Death and restart").
        root.set_command(df, Command::MEMORY_SPACE | Command::IO_SPACE);
        let mut transport = match PciTransport::new::<hal::DmaHal, _>(&mut root, df) {
            Ok(t) => t,
            Err(e) => {
                println!("virtio-blk: {df}: transport failed: {e:?}");
                continue;
            }
        };
        transport.set_status(DeviceStatus::empty());
        root.set_command(
            df,
            Command::MEMORY_SPACE | Command::BUS_MASTER | Command::IO_SPACE,
        );
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
    let (_, incarnation) = userlib::sys::whoami();
    println!(
        "virtio-blk: ready, {} disk(s), incarnation {incarnation}",
        disks.len()
    );
    let scheds = disks
        .iter()
        .map(|d| {
            let check = check::Disk {
                block_count: d.block_count,
                read_only: d.read_only,
            };
            Scheduler::new(check, disk::SLOTS, CHUNK_BLOCKS)
        })
        .collect();
    let mut driver = Driver {
        disks,
        scheds,
        stats: Stats::default(),
        // Only the boot-time incarnation dies: a restarted one serves on.
        die_after: if incarnation == 0 {
            userlib::boot_arg() & 0xFFFF
        } else {
            0
        },
        zero_copy: userlib::boot_arg() & ARG_COPY_ONLY == 0,
        started: 0,
    };
    loop {
        for d in 0..driver.disks.len() {
            let (sched, mut port) = driver.parts(d);
            sched.pump(&mut port);
            // Everything this wake-up started, announced at once (disk.rs).
            driver.disks[d].notify();
        }
        match ipc::recv(mask) {
            Ok(Incoming::Notification(bits)) => driver.interrupt(bits),
            Ok(Incoming::Call { badge, token, msg }) => {
                driver.stats.requests += 1;
                blk::dispatch(&mut driver, badge, token, &msg).send();
            }
            Err(e) => println!("virtio-blk: recv failed: {e:?}"),
        }
    }
}

impl Driver {
    /// Disk `d`'s scheduler and the port it drives the disk through.
    fn parts(&mut self, d: usize) -> (&mut Scheduler<Job>, Port<'_>) {
        let port = Port {
            disk: &mut self.disks[d],
            stats: &mut self.stats,
            zero_copy: self.zero_copy,
            die_after: self.die_after,
            started: &mut self.started,
        };
        (&mut self.scheds[d], port)
    }

    /// The disk the badge names (its index in PCI order).
    fn disk(&self, badge: u64) -> Result<usize, BlkError> {
        usize::try_from(badge)
            .ok()
            .filter(|&d| d < self.disks.len())
            .ok_or(BlkError::NoDevice { badge })
    }

    #[allow(clippy::too_many_arguments)] // the request's own fields
    fn transfer(
        &mut self,
        badge: u64,
        job: Job,
        write: bool,
        first: u64,
        blocks: u64,
        flags: u64,
        lease: &Lease,
    ) {
        match self.disk(badge) {
            Ok(disk) => {
                let (sched, mut port) = self.parts(disk);
                sched.submit_transfer(&mut port, job, write, first, blocks, flags, lease);
            }
            Err(e) => {
                let _ = job.reply(Err(e));
            }
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
                let (sched, mut port) = self.parts(d);
                sched.complete(&mut port, done.slot, done.result, done.direct);
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
}

impl blk::Server<ReplyToken> for Driver {
    fn info(&mut self, badge: u64) -> Result<Info, BlkError> {
        let d = &self.disks[self.disk(badge)?];
        let mut flags = if d.read_only {
            info_flags::READ_ONLY
        } else {
            0
        };
        if d.has_flush {
            flags |= info_flags::FLUSH;
        }
        Ok(Info {
            block_count: d.block_count,
            sectors: d.sectors,
            flags,
            max_blocks: u32::MAX as u64,
        })
    }

    fn read(&mut self, badge: u64, job: Job, first: u64, blocks: u64, buf: Lease) {
        self.transfer(badge, job, false, first, blocks, 0, &buf);
    }

    fn write(&mut self, badge: u64, job: Job, first: u64, blocks: u64, flags: u64, data: Lease) {
        self.transfer(badge, job, true, first, blocks, flags, &data);
    }

    fn flush(&mut self, badge: u64, job: Job) {
        match self.disk(badge) {
            Ok(disk) => self.scheds[disk].submit_flush(job),
            Err(e) => {
                let _ = job.reply(Err(e));
            }
        }
    }

    fn batch(&mut self, badge: u64, job: Job, entries: u64, _table: Lease, data: Lease) {
        let disk = match self.disk(badge) {
            Ok(disk) => disk,
            Err(e) => {
                let _ = job.reply(Err(e));
                return;
            }
        };
        let mut table = [0u8; MAX_BATCH_ENTRIES * BATCH_ENTRY_SIZE];
        let want = (entries as usize).min(MAX_BATCH_ENTRIES) * BATCH_ENTRY_SIZE;
        let got = job
            .caller()
            .lease_read(0, 0, &mut table[..want])
            .unwrap_or(0);
        let (sched, mut port) = self.parts(disk);
        sched.submit_batch(&mut port, job, entries, &table[..got], &data);
    }

    fn stats(&mut self, badge: u64) -> Result<StatsReply, BlkError> {
        self.disk(badge)?;
        let s = &self.stats;
        let c = self.scheds.iter().map(|s| s.counters);
        let (read, written, most) = c.fold((0, 0, 0), |(r, w, m), c| {
            (
                r + c.blocks_read,
                w + c.blocks_written,
                m.max(c.most_in_flight),
            )
        });
        Ok(StatsReply {
            requests: s.requests,
            blocks_read: read,
            blocks_written: written,
            interrupts: s.interrupts,
            most_in_flight: most,
            copy_cycles: s.copy_cycles,
        })
    }

    fn more_stats(&mut self, badge: u64) -> Result<MoreStats, BlkError> {
        self.disk(badge)?;
        Ok(MoreStats {
            direct_pieces: self.stats.direct_pieces,
            copied_pieces: self.stats.copied_pieces,
            bounced_bytes: hal::BOUNCED_BYTES.load(core::sync::atomic::Ordering::Relaxed),
            notifications: self.disks.iter().map(|d| d.notifications).sum(),
        })
    }
}

impl Device for Port<'_> {
    type Client = Job;

    fn has_flush(&self) -> bool {
        self.disk.has_flush
    }

    /// Zero copy for pieces of `ZERO_COPY_MIN_BLOCKS` and more (when the
    /// kernel gives the lease's physical runs), else through the slot's
    /// DMA buffer.
    fn start(&mut self, slot: usize, piece: &Piece, job: &Job) -> Result<(), Failure> {
        let token = job.caller();
        let direct = match piece.op {
            Op::Read | Op::Write if self.zero_copy && piece.blocks >= ZERO_COPY_MIN_BLOCKS => {
                direct_segments(token, piece)
            }
            _ => None,
        };
        if let Some(segments) = direct {
            self.disk.start_direct(slot, *piece, &segments)?;
            self.stats.direct_pieces += 1;
        } else {
            if piece.op == Op::Write {
                let len = piece.blocks as usize * BLOCK_SIZE;
                let buf = &mut self.disk.buffer(slot)[..len];
                let t0 = userlib::sys::rdtsc();
                let copied = token.lease_read(piece.lease, piece.offset, buf);
                self.stats.copy_cycles += userlib::sys::rdtsc() - t0;
                if !matches!(copied, Ok(n) if n == len) {
                    return Err(Failure::BadLease);
                }
            }
            self.disk.start(slot, *piece)?;
            if piece.op != Op::Flush {
                self.stats.copied_pieces += 1;
            }
        }
        *self.started += 1;
        if *self.started == self.die_after {
            // The requests started so far reach the device before the death.
            self.disk.notify();
            let now = self.disk.in_flight;
            panic!("fault injection: dying with {now} requests in flight");
        }
        Ok(())
    }

    fn deliver(&mut self, slot: usize, piece: &Piece, job: &Job) -> Result<(), Failure> {
        let token = job.caller();
        let len = piece.blocks as usize * BLOCK_SIZE;
        let data = &self.disk.buffer(slot)[..len];
        let t0 = userlib::sys::rdtsc();
        let copied = token.lease_write(piece.lease, piece.offset, data);
        self.stats.copy_cycles += userlib::sys::rdtsc() - t0;
        match copied {
            Ok(n) if n == len => Ok(()),
            _ => Err(Failure::BadLease),
        }
    }

    fn reply(&mut self, job: Job, result: Result<(), Refusal>) {
        // A caller that died meanwhile is not the driver's problem.
        let _ = job.reply(result.map_err(BlkError::from_refusal));
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
