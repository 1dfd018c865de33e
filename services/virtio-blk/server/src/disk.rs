//! One virtio-blk device: bring-up through virtio-drivers' PCI transport,
//! a request queue (virtio-drivers' `VirtQueue`), a fixed set of request
//! slots in DMA memory, non-blocking submit and completion for reads,
//! writes and flushes.
//!
//! Why not `virtio_drivers::device::blk::VirtIOBlk`: its reads and writes
//! have non-blocking forms, but its flush only blocks (it spins on the used
//! ring until the device answers, ~5 ms per flush under QEMU with a host
//! fdatasync) and needs an otherwise empty queue. A storage stack flushes at
//! every durable commit, so the driver would spin in the steady state. Here
//! every request, flush included, is a descriptor chain on the crate's
//! `VirtQueue` (header, data, status byte; virtio 1.2 §5.2.6) completed from
//! the interrupt.
//!
//! # One notification per wake-up
//! Starting a request only adds it to the queue; [`Disk::notify`], which
//! the driver's loop calls before it sleeps, tells the device of every
//! request added since, with one MMIO write (an exit to QEMU that takes its
//! global lock under TCG). virtio-drivers notified after every request it
//! added: a batch of n scattered writes (a checkpoint's home writes) was n
//! writes to the notify register, and QEMU processed the queue n times.
//! `VIRTIO_F_RING_EVENT_IDX` is not negotiated: the crate's event-index
//! rule (`avail_idx >= avail_event + 1`) is only right when checked after
//! every single addition (it misses a notification when the index wraps
//! past `avail_event` between two checks); without it the device's
//! `NO_NOTIFY` flag decides, which is right whenever it is read after the
//! last addition (the virtio-net driver does the same, docs/speed.md).
//!
//! # Invariants
//! - A slot is `busy` exactly while its request is in the device's queue:
//!   from `VirtQueue::add` returning a token to the matching `pop_used`. Its
//!   data buffer, header and status byte are not touched by the driver in
//!   between.
//! - `in_flight` is the number of busy slots.

use crate::hal::{self, DmaHal};
use core::ptr::NonNull;
use virtio_blk_api::BLOCK_SIZE;
use virtio_blk_sched::{Failure, Op, Piece};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::Transport;

use alloc::vec::Vec;

/// Requests in the device queue at once. With indirect descriptors each
/// request takes one ring entry.
pub const SLOTS: usize = 16;
/// Ring entries; a request takes one (indirect descriptors), its indirect
/// table up to `MAX_SEGMENTS + 2` entries, which may not exceed this.
const QUEUE_SIZE: usize = 128;
/// Most client segments one zero-copy request may carry.
pub const MAX_SEGMENTS: usize = 64;
const _: () = assert!(MAX_SEGMENTS + 2 <= QUEUE_SIZE);
/// Largest piece of a client request sent to the device as one request.
pub const CHUNK: usize = 256 * 1024;
pub const CHUNK_BLOCKS: u64 = (CHUNK / BLOCK_SIZE) as u64;
const SECTOR_SIZE: u64 = 512;
const SECTORS_PER_BLOCK: u64 = BLOCK_SIZE as u64 / SECTOR_SIZE;

/// Request header: type (u32), reserved (u32), sector (u64), little-endian.
const HEADER_LEN: usize = 16;
/// Each slot's header and status byte share one 32-byte stride of a page.
const HEADER_STRIDE: usize = 32;
const STATUS_OFFSET: usize = HEADER_LEN;
const _: () = assert!(SLOTS * HEADER_STRIDE <= 4096 && STATUS_OFFSET < HEADER_STRIDE);

/// virtio-blk request types and status values.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const S_OK: u8 = 0;
const S_UNSUPPORTED: u8 = 2;

bitflags::bitflags! {
    /// The feature bits this driver negotiates (virtio 1.2 §5.2.3, §6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const RO = 1 << 5;
        const FLUSH = 1 << 9;
        const RING_INDIRECT_DESC = 1 << 28;
        const VERSION_1 = 1 << 32;
    }
}

struct Slot {
    data: NonNull<u8>,
    header: NonNull<u8>,
    busy: Option<(u16, Piece)>,
    /// Zero copy: the lengths of the client segments the request moves
    /// (the slot's buffer only stands in for them, see `hal`).
    direct: Option<Vec<u64>>,
}

/// Splits `data` into consecutive slices of `lens` bytes.
fn split<'a>(mut data: &'a mut [u8], lens: &[u64]) -> Vec<&'a mut [u8]> {
    let mut out = Vec::with_capacity(lens.len() + 1);
    for &len in lens {
        let (piece, rest) = core::mem::take(&mut data).split_at_mut(len as usize);
        out.push(piece);
        data = rest;
    }
    out
}

/// A finished request: its slot and the device's verdict.
pub struct Completion {
    pub result: Result<(), Failure>,
    pub slot: usize,
    /// The data moved straight to or from the client (nothing to copy).
    pub direct: bool,
}

pub struct Disk {
    transport: PciTransport,
    queue: VirtQueue<DmaHal, QUEUE_SIZE>,
    slots: [Slot; SLOTS],
    pub in_flight: usize,
    pub block_count: u64,
    pub sectors: u64,
    pub read_only: bool,
    /// The device has a write cache that FLUSH empties.
    pub has_flush: bool,
    /// The interrupt line (PCI config register 0x3C).
    pub irq: u8,
    /// Requests were added to the queue since the last [`Disk::notify`].
    notify_due: bool,
    /// Queue notifications (MMIO writes) made.
    pub notifications: u64,
}

impl Disk {
    /// Device initialisation (virtio 1.2 §3.1.1) through the transport.
    pub fn new(mut transport: PciTransport, irq: u8) -> Result<Disk, &'static str> {
        let features = transport.begin_init(Features::all());
        if !features.contains(Features::VERSION_1) {
            return Err("device does not offer VIRTIO_F_VERSION_1");
        }
        let sectors = transport
            .read_consistent(|| {
                let low: u32 = transport.read_config_space(0)?;
                let high: u32 = transport.read_config_space(4)?;
                Ok(low as u64 | (high as u64) << 32)
            })
            .map_err(|_| "cannot read the capacity")?;
        let queue = VirtQueue::new(
            &mut transport,
            0,
            features.contains(Features::RING_INDIRECT_DESC),
            false,
        )
        .map_err(|_| "cannot set up the request queue")?;
        transport.finish_init();
        let (headers, _) = hal::alloc(4096).map_err(|_| "no DMA memory for headers")?;
        let mut slots: [Option<Slot>; SLOTS] = Default::default();
        for (i, slot) in slots.iter_mut().enumerate() {
            let (data, _) = hal::alloc(CHUNK).map_err(|_| "no DMA memory for buffers")?;
            // Safety: the header page is 4096 bytes of our DMA memory and
            // slot i uses bytes i*32 .. i*32+32 of it.
            let header = unsafe { NonNull::new_unchecked(headers.as_ptr().add(i * HEADER_STRIDE)) };
            *slot = Some(Slot {
                data,
                header,
                busy: None,
                direct: None,
            });
        }
        let slots = slots.map(|s| s.expect("every slot was filled above"));
        Ok(Disk {
            transport,
            queue,
            slots,
            in_flight: 0,
            block_count: sectors / SECTORS_PER_BLOCK,
            sectors,
            read_only: features.contains(Features::RO),
            has_flush: features.contains(Features::FLUSH),
            irq,
            notify_due: false,
            notifications: 0,
        })
    }

    /// The data buffer of slot `slot` (`CHUNK` bytes of DMA memory).
    pub fn buffer(&mut self, slot: usize) -> &mut [u8] {
        debug_assert!(self.slots[slot].busy.is_none());
        // Safety: `data` is CHUNK bytes of our DMA memory; the slot is not
        // busy, so the device does not access it.
        unsafe { core::slice::from_raw_parts_mut(self.slots[slot].data.as_ptr(), CHUNK) }
    }

    /// The slot's header (16 bytes), status byte and the first `len` bytes
    /// of its data buffer.
    ///
    /// # Safety
    /// The slices alias the slot's DMA memory: the caller must not hold
    /// them across another call that touches the same slot.
    unsafe fn parts<'a>(slot: &Slot, len: usize) -> (&'a mut [u8], &'a mut [u8], &'a mut [u8]) {
        // Safety: disjoint ranges of the slot's own DMA memory (header page
        // stride, buffer of CHUNK >= len bytes).
        unsafe {
            let header = core::slice::from_raw_parts_mut(slot.header.as_ptr(), HEADER_LEN);
            let status =
                core::slice::from_raw_parts_mut(slot.header.as_ptr().add(STATUS_OFFSET), 1);
            let data = core::slice::from_raw_parts_mut(slot.data.as_ptr(), len);
            (header, status, data)
        }
    }

    /// Starts `piece` in free slot `slot` (for a write, its data is already
    /// in the slot's buffer).
    pub fn start(&mut self, slot: usize, piece: Piece) -> Result<(), Failure> {
        let len = piece.blocks as usize * BLOCK_SIZE;
        debug_assert!(len <= CHUNK && self.slots[slot].busy.is_none());
        if piece.op == Op::Flush && !self.has_flush {
            // No write cache to empty: every completed write is durable.
            return Err(Failure::Unsupported);
        }
        let s = &mut self.slots[slot];
        // Safety: the slot is free, so nothing else uses its memory; the
        // slices stay untouched until `complete_next` pops the request
        // (invariant), and they point into DMA memory that lives as long
        // as the driver.
        let token = unsafe {
            let (header, status, data) = Self::parts(s, len);
            Self::fill_header(header, status, piece);
            match piece.op {
                Op::Read => self.queue.add(&[header], &mut [data, status]),
                Op::Write => self.queue.add(&[header, data], &mut [status]),
                Op::Flush => self.queue.add(&[header], &mut [status]),
            }
            .map_err(|_| Failure::Queue)?
        };
        self.notify_due = true;
        s.busy = Some((token, piece));
        self.in_flight += 1;
        Ok(())
    }

    /// Starts `piece` in free slot `slot` with the data moved straight to or
    /// from the client's memory: `segments` are (physical address, bytes)
    /// runs from `LEASE_PHYS` covering the piece in order.
    pub fn start_direct(
        &mut self,
        slot: usize,
        piece: Piece,
        segments: &[(u64, u64)],
    ) -> Result<(), Failure> {
        let len = piece.blocks as usize * BLOCK_SIZE;
        let lens: Vec<u64> = segments.iter().map(|s| s.1).collect();
        debug_assert_eq!(lens.iter().sum::<u64>(), len as u64);
        if piece.op == Op::Flush || segments.is_empty() || segments.len() > MAX_SEGMENTS {
            return Err(Failure::Queue);
        }
        let s = &mut self.slots[slot];
        // Safety: as in `start`; the stand-in slices are the slot's own
        // buffer, which the device never accesses (their `share` returns
        // the client's addresses).
        let token = unsafe {
            let (header, status, data) = Self::parts(s, len);
            Self::fill_header(header, status, piece);
            let mut segs = split(data, &lens);
            for (slice, &(phys, _)) in segs.iter().zip(segments) {
                hal::redirect(slice.as_ptr() as u64, slice.len() as u64, phys);
            }
            let added = match piece.op {
                Op::Read => {
                    segs.push(status);
                    self.queue.add(&[header], &mut segs)
                }
                _ => {
                    let mut inputs: Vec<&[u8]> = Vec::with_capacity(segs.len() + 1);
                    inputs.push(header);
                    inputs.extend(segs.into_iter().map(|s| &*s));
                    self.queue.add(&inputs, &mut [status])
                }
            };
            match added {
                Ok(token) => token,
                Err(_) => {
                    let base = s.data.as_ptr() as u64;
                    hal::unredirect(base, base + CHUNK as u64);
                    return Err(Failure::Queue);
                }
            }
        };
        self.notify_due = true;
        s.busy = Some((token, piece));
        s.direct = Some(lens);
        self.in_flight += 1;
        Ok(())
    }

    /// Tells the device of the requests started since the last call, with
    /// one notification (unless the device is already processing the queue
    /// and asked not to be: it looks at the ring again before it stops).
    /// Called before the driver sleeps, so no started request waits unseen.
    pub fn notify(&mut self) {
        if !core::mem::take(&mut self.notify_due) {
            return;
        }
        if self.queue.should_notify() {
            self.notifications += 1;
            self.transport.notify(0);
        }
    }

    fn fill_header(header: &mut [u8], status: &mut [u8], piece: Piece) {
        let kind = match piece.op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush => T_FLUSH,
        };
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[4..8].copy_from_slice(&0u32.to_le_bytes());
        let sector = piece.first * SECTORS_PER_BLOCK;
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        status[0] = 0xFF;
    }

    /// Clears the device's interrupt status (its level-triggered line drops).
    pub fn ack_interrupt(&mut self) {
        self.transport.ack_interrupt();
    }

    /// The next finished request, if any. For a read the data is in
    /// `buffer(completion.slot)` until that slot is started again.
    pub fn complete_next(&mut self) -> Option<Completion> {
        let token = self.queue.peek_used()?;
        let Some(slot) = self
            .slots
            .iter()
            .position(|s| matches!(s.busy, Some((t, _)) if t == token))
        else {
            // Not a token we issued: the device broke the queue protocol.
            panic!("virtio-blk: device completed unknown token {token}");
        };
        let s = &mut self.slots[slot];
        let (_, piece) = s.busy.take()?;
        let len = piece.blocks as usize * BLOCK_SIZE;
        let direct = s.direct.take();
        let was_direct = direct.is_some();
        // Safety: the same slices as passed to `add` for this token.
        let popped = unsafe {
            let (header, status, data) = Self::parts(s, len);
            let r = match (piece.op, direct) {
                (Op::Read, Some(lens)) => {
                    let mut segs = split(data, &lens);
                    segs.push(&mut *status);
                    self.queue.pop_used(token, &[header], &mut segs)
                }
                (_, Some(lens)) => {
                    let segs = split(data, &lens);
                    let mut inputs: Vec<&[u8]> = Vec::with_capacity(segs.len() + 1);
                    inputs.push(header);
                    inputs.extend(segs.into_iter().map(|s| &*s));
                    self.queue.pop_used(token, &inputs, &mut [&mut *status])
                }
                (op, None) => match op {
                    Op::Read => self.queue.pop_used(token, &[header], &mut [data, status]),
                    Op::Write => self.queue.pop_used(token, &[header, data], &mut [status]),
                    Op::Flush => self.queue.pop_used(token, &[header], &mut [status]),
                },
            };
            r.map(|_| status[0])
        };
        if was_direct {
            let base = s.data.as_ptr() as u64;
            hal::unredirect(base, base + CHUNK as u64);
        }
        self.in_flight -= 1;
        let result = match popped {
            Ok(S_OK) => Ok(()),
            Ok(S_UNSUPPORTED) => Err(Failure::Unsupported),
            Ok(other) => Err(Failure::Io(other)),
            Err(_) => Err(Failure::Queue),
        };
        Some(Completion {
            result,
            slot,
            direct: was_direct,
        })
    }
}
