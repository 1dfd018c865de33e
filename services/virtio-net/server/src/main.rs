//! The virtio-net driver: a ring-3 process that finds the virtio-net device
//! it was granted by PCI enumeration over ECAM, drives it with
//! virtio-drivers' `VirtIONetRaw` (non-blocking transmit and receive of our
//! own buffers) and serves Ethernet frames to one client over IPC
//! (`virtio-net-api`).
//!
//! Design principles:
//! - One process, one loop, no threads, no polling: it sleeps in `RECV`
//!   until a call or the device's interrupt (a notification bit) arrives.
//! - Many frames in flight both ways: `RX_BUFFERS` receive buffers stay
//!   posted to the device, `TX_BUFFERS` transmit buffers are filled from a
//!   `Send` batch and handed over without waiting for earlier ones.
//! - Backpressure, not loss: a received frame keeps its buffer until the
//!   client fetched it, so when the client falls behind the device runs out
//!   of buffers and QEMU holds the packets; a `Send` larger than the free
//!   transmit buffers is answered (deferred reply) when the last frame is
//!   queued.
//! - Rights come from the boot configuration: the ECAM page and BAR window
//!   (`mmio=`), DMA memory (`dma`), the interrupt line (`irq=`) and the
//!   client's notification (`notify=`, capability slot 0).
//!
//! # Invariants
//! - A receive buffer is either posted to the device (its token in
//!   `rx_token`) or waiting in `ready`, never both; likewise a transmit
//!   buffer is either free or on the device (`tx_token`).
//! - At most one `Send` is partly queued (`sending`); later ones wait in
//!   order behind it.
#![no_std]
#![no_main]

extern crate alloc;

mod transport;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use userlib::abi::iface::{reply_message, LeaseOut, Pending};
use userlib::abi::Lease;
use userlib::ipc::{self, Incoming, ReplyToken};
use userlib::println;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, PciRoot};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;
use virtio_hal::hal::{self, DmaHal};
use virtio_hal::pci::GrantedEcam;
use virtio_net_api::{
    batch, frames, mac_to_word, Counters, DriverError, InfoWords, Received, MAX_BATCH_BYTES,
    MAX_FRAME,
};

userlib::entry!(main);

/// Descriptors per virtqueue (QEMU allows up to 256).
const QUEUE_SIZE: usize = 64;
/// Receive buffers kept posted: one descriptor each.
const RX_BUFFERS: usize = 64;
/// Transmit buffers: one descriptor each (one buffer holds header + frame).
const TX_BUFFERS: usize = 64;
/// One buffer: the virtio-net header (12 bytes) and a whole frame.
const BUF: usize = 2048;
/// The client's notification capability (`notify=` in the boot configuration).
const CLIENT_NOTIFY_SLOT: u64 = 0;

type Device = VirtIONetRaw<DmaHal, transport::NoEventIdx, QUEUE_SIZE>;

#[derive(Default)]
struct Stats {
    frames_received: u64,
    frames_sent: u64,
    interrupts: u64,
    send_calls: u64,
    /// Most transmit buffers on the device at once.
    most_tx_in_flight: u64,
}

/// A `Send` call whose frames are not all on the device yet.
struct Sending {
    pending: Pending<ReplyToken, u64, DriverError>,
    batch: Vec<u8>,
    frames: usize,
    /// Frames queued so far, and the batch offset of the next.
    done: usize,
    at: usize,
}

struct Driver {
    dev: Device,
    irq: u8,
    rx_mem: *mut u8,
    tx_mem: *mut u8,
    /// Per receive buffer: the device token while posted.
    rx_token: [Option<u16>; RX_BUFFERS],
    /// Received frames not yet fetched: (buffer, header length, frame length).
    ready: VecDeque<(usize, usize, usize)>,
    /// Per transmit buffer: the device token and length while on the device.
    tx_token: [Option<(u16, usize)>; TX_BUFFERS],
    sending: VecDeque<Sending>,
    /// Set when frames arrived since the client's last empty `Receive`
    /// notification, cleared when it fetches: one notification per wake-up.
    client_notified: bool,
    staging: Vec<u8>,
    stats: Stats,
    /// Fault injection (boot argument): panic after this many frames sent.
    die_after: u64,
}

fn find_device() -> Option<(PciTransport, u8)> {
    let mut root = PciRoot::new(GrantedEcam::new());
    let config = GrantedEcam::new();
    let found = root
        .enumerate_bus(0)
        .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::Network))
        .map(|(df, _)| df)?;
    let line = (config.read_word(found, 0x3C) & 0xFF) as u8;
    // BAR 4 (+5: 64-bit) holds the modern virtio registers: logged so a
    // boot configuration's `mmio=` window can be checked against it.
    let bar4 = (config.read_word(found, 0x24) as u64) << 32
        | (config.read_word(found, 0x20) & !0xF) as u64;
    root.set_command(
        found,
        Command::MEMORY_SPACE | Command::BUS_MASTER | Command::IO_SPACE,
    );
    match PciTransport::new::<DmaHal, _>(&mut root, found) {
        Ok(t) => {
            println!("virtio-net: device at {found}, irq {line}, BAR 4 at {bar4:#x}");
            Some((t, line))
        }
        Err(e) => {
            println!("virtio-net: {found}: transport failed: {e:?}");
            None
        }
    }
}

fn main() {
    if let Err(e) = hal::init() {
        println!("virtio-net: no DMA memory: {e:?}");
        return;
    }
    let Some((transport, irq)) = find_device() else {
        println!("virtio-net: no virtio-net device granted; answering NO_DEVICE");
        return serve_no_device();
    };
    let shared = transport::Shared::new(transport);
    let dev = match Device::new(transport::NoEventIdx(shared)) {
        Ok(d) => d,
        Err(e) => {
            println!("virtio-net: device init failed: {e:?}");
            return;
        }
    };
    let (rx_mem, tx_mem) = match (hal::alloc(RX_BUFFERS * BUF), hal::alloc(TX_BUFFERS * BUF)) {
        (Ok((rx, _)), Ok((tx, _))) => (rx.as_ptr(), tx.as_ptr()),
        _ => {
            println!("virtio-net: no DMA memory for buffers");
            return;
        }
    };
    let bit = 1u64 << (irq & 63);
    if let Err(e) = userlib::sys::irq_bind(irq as u64, bit) {
        println!("virtio-net: IRQ_BIND {irq} refused: {e:?} (missing irq= grant?)");
        return;
    }
    let mut d = Driver {
        dev,
        irq,
        rx_mem,
        tx_mem,
        rx_token: [None; RX_BUFFERS],
        ready: VecDeque::new(),
        tx_token: [None; TX_BUFFERS],
        sending: VecDeque::new(),
        client_notified: false,
        staging: vec![0u8; MAX_BATCH_BYTES],
        stats: Stats::default(),
        die_after: userlib::boot_arg(),
    };
    for i in 0..RX_BUFFERS {
        if let Err(e) = d.post_rx(i) {
            println!("virtio-net: posting receive buffer {i} failed: {e:?}");
            return;
        }
    }
    let mac = d.dev.mac_address();
    println!(
        "virtio-net: ready, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, {RX_BUFFERS} receive and {TX_BUFFERS} transmit buffers",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    loop {
        // The buffers this wake-up added, announced once (transport.rs).
        shared.flush();
        match ipc::recv(bit) {
            Ok(Incoming::Notification(_)) => d.interrupt(),
            Ok(Incoming::Call { badge, token, msg }) => {
                frames::dispatch(&mut d, badge, token, &msg).send()
            }
            Err(e) => println!("virtio-net: recv failed: {e:?}"),
        }
    }
}

/// Without a device the driver stays to say so: its client learns "no
/// device" instead of mistaking the absence for a crash.
fn serve_no_device() {
    loop {
        if let Ok(Incoming::Call { token, .. }) = ipc::recv(0) {
            let _ = token.reply_message(&reply_message::<(), DriverError>(&Err(
                DriverError::NoDevice {},
            )));
        }
    }
}

impl Driver {
    fn rx_buf(&mut self, i: usize) -> &'static mut [u8] {
        // Safety: `rx_mem` is RX_BUFFERS * BUF bytes of our DMA memory that
        // live for the whole process; buffer `i` is handed out only while
        // the one owner (device or `ready`) of the invariant uses it.
        unsafe { core::slice::from_raw_parts_mut(self.rx_mem.add(i * BUF), BUF) }
    }

    fn tx_buf(&mut self, i: usize) -> &'static mut [u8] {
        // Safety: as `rx_buf`, for `tx_mem` and TX_BUFFERS.
        unsafe { core::slice::from_raw_parts_mut(self.tx_mem.add(i * BUF), BUF) }
    }

    fn post_rx(&mut self, i: usize) -> virtio_drivers::Result<()> {
        let buf = self.rx_buf(i);
        // Safety: the buffer is ours and untouched until `receive_complete`
        // (the invariant: it is posted, not in `ready`).
        let token = unsafe { self.dev.receive_begin(buf)? };
        self.rx_token[i] = Some(token);
        Ok(())
    }

    fn interrupt(&mut self) {
        self.stats.interrupts += 1;
        self.dev.ack_interrupt();
        let had = self.ready.len();
        while let Some(token) = self.dev.poll_receive() {
            let Some(i) = self.rx_token.iter().position(|t| *t == Some(token)) else {
                println!("virtio-net: device completed unknown receive token {token}");
                break;
            };
            let buf = self.rx_buf(i);
            self.rx_token[i] = None;
            // Safety: the same buffer that was posted with this token.
            match unsafe { self.dev.receive_complete(token, buf) } {
                Ok((hdr, len)) if (virtio_net_api::MIN_FRAME..=MAX_FRAME).contains(&len) => {
                    self.ready.push_back((i, hdr, len));
                    self.stats.frames_received += 1;
                }
                other => {
                    println!("virtio-net: dropped a received buffer: {other:?}");
                    let _ = self.post_rx(i);
                }
            }
        }
        while let Some(token) = self.dev.poll_transmit() {
            let Some(i) = self
                .tx_token
                .iter()
                .position(|t| t.is_some_and(|t| t.0 == token))
            else {
                println!("virtio-net: device completed unknown transmit token {token}");
                break;
            };
            let len = self.tx_token[i].map_or(0, |t| t.1);
            let buf = &self.tx_buf(i)[..len];
            self.tx_token[i] = None;
            // Safety: the same buffer that was submitted with this token.
            if let Err(e) = unsafe { self.dev.transmit_complete(token, buf) } {
                println!("virtio-net: transmit completion failed: {e:?}");
            }
        }
        let _ = userlib::sys::irq_ack(self.irq as u64);
        self.pump_sends();
        if self.ready.len() > had && !self.client_notified {
            self.client_notified = true;
            // A client that is gone or absent is not our problem.
            let _ = userlib::sys::notify(CLIENT_NOTIFY_SLOT);
        }
    }

    /// Moves frames of the waiting `Send` calls onto free transmit buffers.
    fn pump_sends(&mut self) {
        while let Some(mut s) = self.sending.pop_front() {
            while s.done < s.frames {
                let Some(i) = self.tx_token.iter().position(Option::is_none) else {
                    self.sending.push_front(s);
                    return;
                };
                let Some(Ok(frame)) = batch::frames(&s.batch[s.at..], 1).next() else {
                    break; // Checked in `send`: cannot happen.
                };
                let len = frame.len();
                let buf = self.tx_buf(i);
                let hdr = match self.dev.fill_buffer_header(buf) {
                    Ok(h) => h,
                    Err(_) => break,
                };
                buf[hdr..hdr + len].copy_from_slice(frame);
                // Safety: the buffer is ours and untouched until
                // `transmit_complete` (the invariant: it is on the device).
                match unsafe { self.dev.transmit_begin(&buf[..hdr + len]) } {
                    Ok(token) => {
                        self.tx_token[i] = Some((token, hdr + len));
                        let busy = self.tx_token.iter().filter(|t| t.is_some()).count();
                        self.stats.most_tx_in_flight =
                            self.stats.most_tx_in_flight.max(busy as u64);
                    }
                    Err(e) => {
                        println!("virtio-net: transmit failed: {e:?}");
                        let _ = s.pending.reply(Err(DriverError::Device {
                            queued: s.done as u64,
                        }));
                        return;
                    }
                }
                s.done += 1;
                s.at += batch::PREFIX + len;
                self.stats.frames_sent += 1;
                if self.die_after != 0 && self.stats.frames_sent >= self.die_after {
                    panic!(
                        "fault injection: dying after {} frames sent",
                        self.stats.frames_sent
                    );
                }
            }
            let _ = s.pending.reply(Ok(s.done as u64));
        }
    }
}

/// The interface's operations (the generated dispatch decodes and checks
/// each call; a `send` waits for transmit buffers as a `Pending`).
impl frames::Server<ReplyToken> for Driver {
    fn info(&mut self, _badge: u64) -> Result<InfoWords, DriverError> {
        Ok(InfoWords {
            mac: mac_to_word(self.dev.mac_address()),
            max_frame: MAX_FRAME as u64,
            rx_buffers: RX_BUFFERS as u64,
            tx_buffers: TX_BUFFERS as u64,
        })
    }

    fn stats(&mut self, _badge: u64) -> Result<Counters, DriverError> {
        let s = &self.stats;
        Ok(Counters([
            s.frames_received,
            s.frames_sent,
            s.interrupts,
            transport::NOTIFIES.load(core::sync::atomic::Ordering::Relaxed),
            s.most_tx_in_flight,
            s.send_calls,
        ]))
    }

    /// Copies waiting frames into the caller's lease and reposts their buffers.
    fn receive(
        &mut self,
        _badge: u64,
        buf: LeaseOut<'_, ReplyToken>,
    ) -> Result<Received, DriverError> {
        let room = (buf.len() as usize).min(self.staging.len());
        let mut staging = core::mem::take(&mut self.staging);
        let mut w = batch::Writer::new(&mut staging[..room]);
        let mut taken = Vec::new();
        while let Some(&(i, hdr, len)) = self.ready.front() {
            if !w.fits(len) {
                break;
            }
            let frame = &self.rx_buf(i)[hdr..hdr + len];
            w.push_frame(frame);
            taken.push(i);
            self.ready.pop_front();
        }
        let (frames, bytes) = w.finish();
        let copied = buf.write(0, &staging[..bytes]);
        self.staging = staging;
        for i in taken {
            if let Err(e) = self.post_rx(i) {
                println!("virtio-net: reposting receive buffer {i} failed: {e:?}");
            }
        }
        if self.ready.is_empty() {
            self.client_notified = false;
        }
        match copied {
            Ok(n) if n == bytes => Ok(Received {
                frames: frames as u64,
                bytes: bytes as u64,
                waiting: self.ready.len() as u64,
            }),
            // The frames are lost to a client that lent a bad buffer.
            _ => Err(DriverError::BadLease {
                frames: frames as u64,
            }),
        }
    }

    fn send(
        &mut self,
        _badge: u64,
        pending: Pending<ReplyToken, u64, DriverError>,
        count: u64,
        lease: Lease,
    ) {
        self.stats.send_calls += 1;
        // The dispatch checked the lease: readable, at most MAX_BATCH_BYTES.
        let len = (lease.len as usize).min(MAX_BATCH_BYTES);
        let mut data = vec![0u8; len];
        match pending.caller().lease_read(0, 0, &mut data) {
            Ok(n) if n == len => {}
            _ => {
                let _ = pending.reply(Err(DriverError::BadLease { frames: 0 }));
                return;
            }
        }
        // Check the whole batch before queueing any of it.
        let frames = count as usize;
        for r in batch::frames(&data, frames) {
            if let Err(bad) = r {
                let _ = pending.reply(Err(DriverError::BadBatch {
                    record: bad.index as u64,
                    len: bad.len as u64,
                }));
                return;
            }
        }
        self.sending.push_back(Sending {
            pending,
            batch: data,
            frames,
            done: 0,
            at: 0,
        });
        self.pump_sends();
    }
}
