//! The network service: TCP/IPv4 (smoltcp, in the host-tested `netstack`
//! library) over the virtio-net driver, offering clients the socket
//! interface of `net-api` (listen, accept, read, write, close, poll): the
//! generated dispatch decodes and checks each call, `calls.rs` implements
//! its server trait.
//!
//! Design principles:
//! - One process, one loop: it sleeps in `RECV` until a client calls, the
//!   driver notifies that frames arrived, or the timer fires; then it
//!   fetches frames (many per call), polls the stack, sends what the stack
//!   queued (many frames per call) and retries the calls that wait.
//! - Calls that cannot progress wait as deferred replies (`calls.rs`); no
//!   client polls and the service never blocks on a client.
//! - Time is the kernel's `TICKS` (10 ms). The timer is the RTC's periodic
//!   interrupt (IRQ 8), switched on only while smoltcp has a deadline
//!   (retransmission, close timeout: 64 Hz) or calls wait (2 Hz, to notice
//!   a dead driver); an idle service takes no interrupts.
//! - A dead driver is reported, not waited on: the first call to it that
//!   fails with `PeerDead` is logged, every waiting call is answered
//!   `NET_DOWN`, and so is every later socket call.
//! - Static addresses for QEMU's user network: 10.0.2.15/24, gateway
//!   10.0.2.2. Buffer sizes: see the `netstack` crate documentation
//!   (128 KiB receive and send per connection).
#![no_std]
#![no_main]

extern crate alloc;

mod calls;
mod rtc;

use alloc::vec;
use alloc::vec::Vec;
use calls::{Calls, Serving};
use netstack::{Config, Stack};
use userlib::abi::iface::{Caller, Dispatched};
use userlib::abi::Error;
use userlib::ipc::{self, Endpoint, Incoming};
use userlib::println;
use virtio_net_api::{batch, NetClient, NetError, MAX_BATCH_BYTES};

userlib::entry!(main);

/// The driver's endpoint (`ep=virtio-net:0`, capability slot 0).
const DRIVER_SLOT: u64 = 0;
/// The driver's "frames arrived" notification (`notify=net:1` in the
/// driver's line of the boot configuration).
const DRIVER_BIT: u64 = 1;
pub const IP: [u8; 4] = [10, 0, 2, 15];
const PREFIX_LEN: u8 = 24;
const GATEWAY: [u8; 4] = [10, 0, 2, 2];
/// Received frames the stack may hold before the service stops fetching.
const RX_BACKLOG: usize = 256;
/// Driver `Receive` calls per wake-up before the stack gets a turn.
const FETCHES_PER_ROUND: usize = 8;

pub fn now_ms() -> u64 {
    let (ticks, hz) = userlib::sys::ticks();
    ticks * 1000 / hz.max(1)
}

/// The frame path: the driver and the batches to and from it.
struct Link {
    driver: NetClient,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// Set once a driver call failed with `PeerDead` (or it never answered).
    down: bool,
    /// Frames may still wait in the driver (fetch before sleeping).
    rx_pending: bool,
}

impl Link {
    fn failed(&mut self, what: &str, e: NetError) {
        if !self.down {
            match e {
                NetError::Kernel(Error::PeerDead) => {
                    println!("net: the virtio-net driver died ({what}: PeerDead); network down")
                }
                NetError::Status(virtio_net_api::status::NO_DEVICE, _) => {
                    println!("net: no network device (QEMU has no virtio-net); network down")
                }
                e => println!("net: driver {what} failed: {e:?}; network down"),
            }
        }
        self.down = true;
    }

    /// Moves waiting frames from the driver into the stack.
    fn fetch(&mut self, stack: &mut Stack) {
        self.rx_pending = false;
        for _ in 0..FETCHES_PER_ROUND {
            if self.down {
                return;
            }
            match self.driver.receive(&mut self.rx) {
                Ok((frames, bytes, waiting)) => {
                    for f in batch::frames(&self.rx[..bytes.min(self.rx.len())], frames).flatten() {
                        stack.push_frame(f);
                    }
                    if waiting == 0 {
                        return;
                    }
                }
                Err(e) => return self.failed("receive", e),
            }
        }
        self.rx_pending = true;
    }

    /// Sends every frame the stack queued, in batches.
    fn flush(&mut self, stack: &mut Stack) {
        let mut held: Option<Vec<u8>> = None;
        loop {
            let mut w = batch::Writer::new(&mut self.tx);
            if let Some(f) = held.take() {
                w.push_frame(&f);
            }
            while let Some(f) = stack.pop_frame() {
                if !w.push_frame(&f) {
                    if w.finish().0 == 0 {
                        println!("net: dropped a frame of {} bytes", f.len());
                        continue;
                    }
                    held = Some(f);
                    break;
                }
                stack.recycle(f);
            }
            let (frames, bytes) = w.finish();
            if frames == 0 {
                return;
            }
            if !self.down {
                if let Err(e) = self.driver.send(&self.tx[..bytes], frames) {
                    self.failed("send", e);
                }
            }
        }
    }
}

fn main() {
    let driver = NetClient::new(Endpoint(DRIVER_SLOT));
    let mut link = Link {
        driver,
        rx: vec![0u8; MAX_BATCH_BYTES],
        tx: vec![0u8; MAX_BATCH_BYTES],
        down: false,
        rx_pending: true,
    };
    let mac = match link.driver.info() {
        Ok(info) => info.mac,
        Err(e) => {
            link.failed("info", e);
            [0x02, 0, 0, 0, 0, 1]
        }
    };
    let mut stack = Stack::new(
        Config {
            mac,
            ip: IP,
            prefix_len: PREFIX_LEN,
            gateway: GATEWAY,
            seed: userlib::sys::rdtsc(),
        },
        now_ms(),
    );
    let mut timer = rtc::Timer::new();
    println!(
        "net: {}.{}.{}.{}/{PREFIX_LEN} gateway {}.{}.{}.{}, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, TCP buffers {} KiB receive / {} KiB send per connection{}",
        IP[0], IP[1], IP[2], IP[3], GATEWAY[0], GATEWAY[1], GATEWAY[2], GATEWAY[3],
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
        netstack::RX_BUFFER / 1024, netstack::TX_BUFFER / 1024,
        if timer.ok() { "" } else { " (no RTC timer: retransmissions only on traffic)" }
    );
    let mut calls = Calls::new();
    let mut last_check = now_ms();
    // Where the cycles go (`Stats`): the stack, driver calls, client calls, asleep.
    let mut cycles = [0u64; 4];
    let mut t = userlib::sys::rdtsc();
    let mut lap = |slot: usize, cycles: &mut [u64; 4]| {
        let now = userlib::sys::rdtsc();
        cycles[slot] += now.wrapping_sub(t);
        t = now;
    };
    loop {
        // Frames stay in the driver (its buffers push back on the device)
        // while the stack still has plenty to digest: bounded memory here.
        if link.rx_pending && stack.dev.rx.len() < RX_BACKLOG {
            link.fetch(&mut stack);
        }
        lap(1, &mut cycles);
        // Poll until the stack is quiet: each round may free send room or
        // deliver data that waiting calls take, which may let it send more.
        for _ in 0..16 {
            let changed = stack.poll(now_ms());
            lap(0, &mut cycles);
            link.flush(&mut stack);
            lap(1, &mut cycles);
            let served = calls.retry(&mut stack, link.down);
            lap(2, &mut cycles);
            if !changed && !served && !stack.tx_full() {
                break;
            }
        }
        // The timer: fast while the stack has a deadline, slow while calls
        // wait (a dead driver must be noticed), off otherwise.
        let now = now_ms();
        let rate = match stack.poll_delay_ms(now) {
            Some(_) => rtc::FAST,
            None if calls.waiting() && !link.down => rtc::SLOW,
            None => rtc::OFF,
        };
        timer.set(rate);
        if calls.waiting() && !link.down && now.saturating_sub(last_check) >= 1000 {
            last_check = now;
            if let Err(e) = link.driver.info() {
                link.failed("liveness check", e);
                continue;
            }
        }
        calls.stats[..4].copy_from_slice(&cycles);
        calls.stats[4] = timer.interrupts;
        calls.stats[5] = stack.stats.frames_in + stack.stats.frames_out;
        let mask = DRIVER_BIT | timer.bit();
        lap(0, &mut cycles);
        // Frames left in the driver or in the stack's queues have no event
        // to wake us: look for calls without sleeping, then go round again.
        let incoming = if link.rx_pending || stack.has_frames() {
            match ipc::try_recv(mask) {
                Err(Error::WouldBlock) => continue,
                other => other,
            }
        } else {
            ipc::recv(mask)
        };
        lap(3, &mut cycles);
        match incoming {
            Ok(Incoming::Notification(bits)) => {
                if bits & DRIVER_BIT != 0 {
                    link.rx_pending = true;
                }
                if bits & timer.bit() != 0 {
                    timer.ack();
                }
            }
            Ok(Incoming::Call { badge, token, msg }) => {
                if msg.label == net_api::sockets::label::driver_stats {
                    calls.driver_stats = match link.down {
                        true => None,
                        false => link.driver.stats().ok(),
                    };
                }
                let mut serving = Serving {
                    calls: &mut calls,
                    stack: &mut stack,
                    down: link.down,
                    mac,
                };
                let dispatched = net_api::sockets::dispatch(&mut serving, badge, token, &msg);
                if let Dispatched::Reply(token, reply) = dispatched {
                    if token.reply(&reply) == Err(Error::PeerDead) {
                        calls.client_gone(&mut stack, badge);
                    }
                }
                lap(2, &mut cycles);
            }
            Err(e) => println!("net: recv failed: {e:?}"),
        }
    }
}
