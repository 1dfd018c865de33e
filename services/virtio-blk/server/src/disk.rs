//! One virtio-blk device: bring-up through virtio-drivers, a fixed set of
//! request slots in DMA memory, non-blocking submit and completion.
//!
//! # Invariants
//! - A slot is `busy` exactly while its request is in the device's queue:
//!   from `read_blocks_nb`/`write_blocks_nb` returning a token to the
//!   matching `complete_*` call. Its data buffer, request header and status
//!   byte are not touched by the driver in between.
//! - `in_flight` is the number of busy slots.

use crate::hal::{self, DmaHal};
use core::ptr::NonNull;
use virtio_blk_api::BLOCK_SIZE;
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::pci::PciTransport;

/// Requests in the device queue at once (virtio-drivers' queue has 16
/// descriptors; with indirect descriptors each request takes one).
pub const SLOTS: usize = 16;
/// Largest piece of a client request sent to the device as one request.
pub const CHUNK: usize = 256 * 1024;
pub const CHUNK_BLOCKS: u64 = (CHUNK / BLOCK_SIZE) as u64;
const SECTORS_PER_BLOCK: u64 = (BLOCK_SIZE / SECTOR_SIZE) as u64;
/// Bytes of the header page given to each slot (request header + status).
const HEADER_STRIDE: usize = 32;
const _: () = assert!(SLOTS * HEADER_STRIDE <= 4096);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// What a busy slot is doing, for whom.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub op: Op,
    pub first: u64,
    pub blocks: u64,
    /// The job (client request) this piece belongs to.
    pub job: usize,
    /// Which lease of the caller holds the data, and where in it.
    pub lease: u64,
    pub offset: u64,
    /// Batch entry index (0 for plain requests), for error replies.
    pub entry: u64,
}

struct Slot {
    data: NonNull<u8>,
    req: NonNull<BlkReq>,
    resp: NonNull<BlkResp>,
    busy: Option<(u16, Piece)>,
}

/// A finished piece: its description and the device's verdict.
pub struct Completion {
    pub piece: Piece,
    pub result: Result<(), virtio_drivers::Error>,
    pub slot: usize,
}

pub struct Disk {
    blk: VirtIOBlk<DmaHal, PciTransport>,
    slots: [Slot; SLOTS],
    pub in_flight: usize,
    pub block_count: u64,
    pub sectors: u64,
    pub read_only: bool,
    /// The interrupt line (PCI config register 0x3C) and its bit.
    pub irq: u8,
}

impl Disk {
    pub fn new(transport: PciTransport, irq: u8) -> Result<Disk, &'static str> {
        let mut blk =
            VirtIOBlk::<DmaHal, _>::new(transport).map_err(|_| "device bring-up failed")?;
        blk.enable_interrupts();
        let (headers, _) = hal::alloc(4096).map_err(|_| "no DMA memory for headers")?;
        let mut slots: [Option<Slot>; SLOTS] = Default::default();
        for (i, slot) in slots.iter_mut().enumerate() {
            let (data, _) = hal::alloc(CHUNK).map_err(|_| "no DMA memory for buffers")?;
            // Safety: the header page is ours, zeroed, 4096 bytes; each slot
            // uses its own 32-byte stride (16-byte request, 1-byte status).
            let (req, resp) = unsafe {
                let base = headers.as_ptr().add(i * HEADER_STRIDE);
                let req = base as *mut BlkReq;
                let resp = base.add(16) as *mut BlkResp;
                req.write(BlkReq::default());
                resp.write(BlkResp::default());
                (NonNull::new_unchecked(req), NonNull::new_unchecked(resp))
            };
            *slot = Some(Slot {
                data,
                req,
                resp,
                busy: None,
            });
        }
        let slots = slots.map(|s| s.expect("every slot was filled above"));
        let sectors = blk.capacity();
        Ok(Disk {
            read_only: blk.readonly(),
            blk,
            slots,
            in_flight: 0,
            block_count: sectors / SECTORS_PER_BLOCK,
            sectors,
            irq,
        })
    }

    pub fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(|s| s.busy.is_none())
    }

    /// The data buffer of slot `slot` (`CHUNK` bytes of DMA memory).
    pub fn buffer(&mut self, slot: usize) -> &mut [u8] {
        debug_assert!(self.slots[slot].busy.is_none());
        // Safety: `data` is CHUNK bytes of our DMA memory; the slot is not
        // busy, so the device does not access it.
        unsafe { core::slice::from_raw_parts_mut(self.slots[slot].data.as_ptr(), CHUNK) }
    }

    /// Starts `piece` in free slot `slot` (for a write, its data is already
    /// in the slot's buffer).
    pub fn start(&mut self, slot: usize, piece: Piece) -> Result<(), virtio_drivers::Error> {
        let len = piece.blocks as usize * BLOCK_SIZE;
        debug_assert!(len <= CHUNK && self.slots[slot].busy.is_none());
        let sector = (piece.first * SECTORS_PER_BLOCK) as usize;
        let s = &mut self.slots[slot];
        // Safety: the slot is free, so its header, status and buffer are not
        // in the queue; they stay untouched until `complete` (invariant).
        let token = unsafe {
            let buf = core::slice::from_raw_parts_mut(s.data.as_ptr(), len);
            match piece.op {
                Op::Read => {
                    self.blk
                        .read_blocks_nb(sector, s.req.as_mut(), buf, s.resp.as_mut())?
                }
                Op::Write => {
                    self.blk
                        .write_blocks_nb(sector, s.req.as_mut(), buf, s.resp.as_mut())?
                }
            }
        };
        s.busy = Some((token, piece));
        self.in_flight += 1;
        Ok(())
    }

    /// Clears the device's interrupt status (a level-triggered line drops).
    pub fn ack_interrupt(&mut self) {
        self.blk.ack_interrupt();
    }

    /// The next finished request, if any. For a read the data is in
    /// `buffer(completion.slot)` until that slot is started again.
    pub fn complete_next(&mut self) -> Option<Completion> {
        let token = self.blk.peek_used()?;
        let Some(slot) = self
            .slots
            .iter()
            .position(|s| matches!(s.busy, Some((t, _)) if t == token))
        else {
            // A token we never issued: nothing to complete it with. The queue
            // is broken; report it as an error on no piece.
            panic!("virtio-blk: device completed unknown token {token}");
        };
        let s = &mut self.slots[slot];
        let (_, piece) = s.busy.take()?;
        let len = piece.blocks as usize * BLOCK_SIZE;
        // Safety: same header, status and buffer as passed at `start`.
        let result = unsafe {
            let buf = core::slice::from_raw_parts_mut(s.data.as_ptr(), len);
            match piece.op {
                Op::Read => {
                    self.blk
                        .complete_read_blocks(token, s.req.as_ref(), buf, s.resp.as_mut())
                }
                Op::Write => {
                    self.blk
                        .complete_write_blocks(token, s.req.as_ref(), buf, s.resp.as_mut())
                }
            }
        };
        self.in_flight -= 1;
        Some(Completion {
            piece,
            result,
            slot,
        })
    }

    /// Flushes the device's write cache. Needs an empty queue
    /// (virtio-drivers 0.13 has only a blocking flush, which waits for its
    /// own completion by polling the used ring).
    pub fn flush(&mut self) -> Result<(), virtio_drivers::Error> {
        debug_assert_eq!(self.in_flight, 0);
        self.blk.flush()
    }
}
