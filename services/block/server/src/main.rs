//! The block service (ring 3): mounts `block::BlockStore` on the disk that
//! the virtio-blk driver serves (mount replays the journal; a blank disk is
//! formatted) and serves it through `block_api::block_store` (the logic is
//! `block_server::Service`, this file the loop around it).
//!
//! It asks the kernel for its clients' deaths (`DEATH_WATCH`): a client that
//! dies holding the transaction, or as its delegate, has it aborted and the
//! `begin` calls waiting behind it are answered.
//!
//! Capabilities (boot.cfg): slot 0 = the virtio-blk driver's endpoint (its
//! badge picks the disk). Clients call this process with their own badge.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::Ordering;

use block::{BlockDevice, BlockStore, Config, DeviceError, Error, IoRequest};
use block_api::{block_store, BlockError};
use block_server::{
    Death, Service, DEVICE_CALLS, DEVICE_CYCLES, DEVICE_STAGED_BYTES, DRIVER_NOTIFICATIONS,
    HANDLE_CYCLES,
};
use userlib::abi::death_kind;
use userlib::abi::iface::{reply_message, Dispatched};
use userlib::ipc::{recv, try_recv, Endpoint, Incoming, ReplyToken};
use userlib::{println, sys};
use virtio_blk_api::{blk, DiskClient, Resending};

userlib::entry!(main);

/// Journal and cache sizes for the service on a device of `block_count`
/// blocks: the journal (`Config::journal_blocks_for`: 4 MiB, 16 MiB from
/// 128 MiB up; used only when formatting) holds the largest transaction the
/// filesystem makes (upload data is written fresh, outside the journal; a
/// step's index and tree updates are a few dozen blocks); the cache is 8 MiB.
fn config(block_count: u64) -> Config {
    Config {
        cache_blocks: 2048,
        journal_blocks: Config::journal_blocks_for(block_count),
        group_commit_blocks: 256,
    }
}

/// The driver's endpoint with every call counted, and the bytes a batch
/// call's staging buffer carries (for `stats`: the stack's call and copy
/// counts, issue #13).
#[derive(Clone, Copy, Debug)]
struct CountedDisk(Resending);

impl userlib::abi::iface::Transport for CountedDisk {
    fn call(&self, msg: &userlib::abi::Message) -> Result<userlib::abi::Message, userlib::Error> {
        // The counters' own calls (before a report) are not counted.
        if msg.label != blk::label::stats && msg.label != blk::label::more_stats {
            DEVICE_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        if msg.label == blk::label::batch {
            DEVICE_STAGED_BYTES.fetch_add(msg.leases[1].len, Ordering::Relaxed);
        }
        self.0.call(msg)
    }
}

type BlkClient = DiskClient<CountedDisk>;

/// The disk the driver serves for our capability; with none, the error
/// clients get is a device of 0 blocks (what is there to mount).
fn connect() -> Result<BlkClient, Error> {
    BlkClient::connect(CountedDisk(Resending(Endpoint(0)))).map_err(|e| {
        println!("block: no disk: {e:?}");
        Error::DeviceTooSmall {
            block_count: 0,
            needed: 1,
        }
    })
}

/// Mounts the store, formatting the disk first when it holds none (both
/// superblocks blank). Any other failure is reported and not "repaired" by
/// formatting: the data may still be recoverable.
fn open() -> Result<BlockStore<Timed<BlkClient>>, Error> {
    let device = Timed(connect()?);
    let blocks = device.block_count();
    match BlockStore::mount(device, config(blocks)) {
        Ok(s) => {
            println!(
                "block: mounted {} blocks, {} transactions replayed",
                s.geometry().block_count,
                s.stats().transactions_replayed
            );
            // What mount found and repaired (a damaged superblock copy or
            // journal block) is said at boot, not left for fsck to find.
            for e in s.events() {
                println!("block: {e}");
            }
            Ok(s)
        }
        Err(Error::NotFormatted) => {
            let device = Timed(connect()?);
            let s = BlockStore::format(device, config(blocks))?;
            println!(
                "block: formatted a blank disk of {} blocks",
                s.geometry().block_count
            );
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

/// The notification bit death notices are posted with.
const DEATH_BIT: u64 = 1;

/// The disk with the cycles spent in its calls counted (for `stats`).
pub struct Timed<D>(pub D);

impl<D: BlockDevice> Timed<D> {
    fn timed<R>(&mut self, f: impl FnOnce(&mut D) -> R) -> R {
        let t0 = sys::rdtsc();
        let r = f(&mut self.0);
        DEVICE_CYCLES.fetch_add(sys::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        r
    }
}

impl<D: BlockDevice> BlockDevice for Timed<D> {
    fn block_count(&self) -> u64 {
        self.0.block_count()
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.timed(|d| d.read(first, buf))
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.timed(|d| d.write(first, data))
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.timed(|d| d.flush())
    }
    fn write_durable(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.timed(|d| d.write_durable(first, data))
    }
    fn durable_write_is_one_request(&self) -> bool {
        self.0.durable_write_is_one_request()
    }
    fn submit(&mut self, batch: &mut [IoRequest<'_>]) -> Result<(), DeviceError> {
        self.timed(|d| d.submit(batch))
    }
}

type Served = Service<Timed<BlkClient>, ReplyToken>;

/// Takes every waiting death notice; aborts what the dead held.
fn deaths(service: &mut Served) {
    loop {
        let notice = match sys::death_next() {
            Ok(n) => n,
            Err(userlib::Error::WouldBlock) => return,
            Err(e) => return println!("block: DEATH_NEXT failed: {e:?}"),
        };
        if notice.lost > 0 {
            // Which clients died is unknown: a transaction whose holder is
            // gone is still aborted when the answer to its next waiter
            // or its holder's next call fails.
            println!("block: {} death notices lost", notice.lost);
        }
        if notice.kind != death_kind::CLIENT {
            continue;
        }
        let badge = notice.value;
        match service.client_died(badge) {
            Death::Holder { tx } => println!(
                "block: client {badge} died holding transaction {tx}: aborted, nothing of it kept"
            ),
            Death::Delegate { tx, holder } => println!(
                "block: client {badge} died as the delegate in client {holder}'s transaction {tx}: aborted, nothing of it kept"
            ),
            Death::Nothing => {}
        }
    }
}

fn run(mut service: Served) -> ! {
    // Fault injection for the QEMU test `storage-block-restart`: the boot
    // argument is the request at which the boot-time incarnation exits
    // without answering, as a crash would (0: never); a restarted one
    // serves on.
    let die_at = if sys::whoami().1 == 0 {
        userlib::boot_arg()
    } else {
        0
    };
    let mut received = 0u64;
    if let Err(e) = sys::death_watch(DEATH_BIT) {
        println!("block: DEATH_WATCH refused ({e:?}): a dead client's transaction stays open");
    }
    // A request taken while looking for idle time (below), served next.
    let mut peeked: Option<Incoming> = None;
    loop {
        let incoming = match peeked.take() {
            Some(i) => Ok(i),
            None => recv(DEATH_BIT),
        };
        let (badge, token, msg) = match incoming {
            Ok(Incoming::Call { badge, token, msg }) => (badge, token, msg),
            Ok(Incoming::Notification(_)) => {
                deaths(&mut service);
                continue;
            }
            Err(_) => continue,
        };
        received += 1;
        if received == die_at {
            println!("block: exiting at request {received} (boot argument)");
            sys::exit(1);
        }
        if msg.label == block_store::label::report {
            // The driver's counters, for the report's `service:` line.
            if let Ok(s) = service.device_mut_unchecked().0.stats() {
                DRIVER_NOTIFICATIONS.store(s.notifications, Ordering::Relaxed);
            }
        }
        let t0 = sys::cpu_time();
        service.count_call(badge, msg.label);
        let dispatched = block_store::dispatch(&mut service, badge, token, &msg);
        if let Dispatched::Reply(_, reply) = &dispatched {
            if msg.label == block_store::label::checkpoint && reply.label == 0 {
                println!("block: checkpoint done, journal empty");
            }
        }
        // A caller that died meanwhile is not our problem (rule 6).
        dispatched.send();
        HANDLE_CYCLES.fetch_add(sys::cpu_time().wrapping_sub(t0), Ordering::Relaxed);
        // Write-back: with a large upload's fresh data buffered, write it
        // now, after answering, when nothing else waits: the answered client
        // runs (and its callers hash the next piece) while the device
        // writes, instead of waiting for that write at the start of the next
        // fresh write (issue #13). Not right after a fresh write: the
        // content service's request goes on with its index writes, which
        // would then wait for the device instead.
        if msg.label != block_store::label::write_fresh && service.fresh_write_back_due() {
            match try_recv(DEATH_BIT) {
                Ok(next) => peeked = Some(next),
                Err(_) => service.write_back_fresh(),
            }
        }
    }
}

/// Serves a store that could not be opened: every call gets `error`, so
/// clients report it instead of hanging.
fn serve_failure(error: Error) -> ! {
    let refusal = reply_message::<(), BlockError>(&Err(BlockError::store(error)));
    loop {
        if let Ok(Incoming::Call { token, .. }) = recv(0) {
            let _ = token.reply_message(&refusal);
        }
    }
}

fn main() {
    match open() {
        // Transaction numbers of each incarnation are distinct.
        Ok(store) => run(Service::new(store, (sys::whoami().1 + 1) << 32)),
        Err(e) => {
            println!("block: cannot open the store: {e}");
            serve_failure(e)
        }
    }
}
