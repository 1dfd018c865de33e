//! Raw disk throughput through the driver, as a client service sees it
//! (`make bench`, QEMU TCG). Prints `name: value unit` lines:
//! sequential read and write with 4 KiB and 1 MiB requests, and random
//! 4 KiB reads per second. Each figure runs for at least `MIN_TICKS`
//! timer ticks (100 Hz) over a region written beforehand (so reads hit real
//! data, not holes of a sparse image). After each figure a `blkbench:` line
//! says where the time went: the share the driver spent copying between
//! leases and DMA buffers, interrupts and queue notifications per request,
//! and each process's scheduled cycles per request (kernel accounts; under
//! `QEMU_EXTRA="-icount shift=0"` instructions, which the host's load does
//! not move). `blkbench: mark` lines bracket each figure for
//! `scripts/blk_bench_counts.py`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use block::BlockDevice;
use userlib::abi::{POWEROFF_TEST_FAIL, POWEROFF_TEST_PASS};
use userlib::ipc::Endpoint;
use userlib::{println, sys};
use virtio_blk_api::{BlkClient, BLOCK_SIZE};

userlib::entry!(main);

/// 2 s per figure.
const MIN_TICKS: u64 = 200;
/// The region the benchmark uses (64 MiB).
const REGION_BLOCKS: u64 = 16384;

/// The figures, in the order they run.
const NAMES: [&str; 5] = [
    "blk_seq_write_1m_MBps",
    "blk_seq_read_1m_MBps",
    "blk_seq_write_4k_MBps",
    "blk_seq_read_4k_MBps",
    "blk_4k_read_iops",
];

/// Runs `op(i)` until MIN_TICKS passed; returns (operations, seconds, TSC
/// cycles), or None if an operation failed.
fn timed(mut op: impl FnMut(u64) -> bool) -> Option<(u64, f64, u64)> {
    let (start, hz) = sys::ticks();
    let tsc = sys::rdtsc();
    let mut n = 0;
    loop {
        if !op(n) {
            return None;
        }
        n += 1;
        let (now, _) = sys::ticks();
        if now - start >= MIN_TICKS {
            return Some((n, (now - start) as f64 / hz as f64, sys::rdtsc() - tsc));
        }
    }
}

/// Prints where the time of one figure went, from the driver's counters.
fn breakdown(
    dev: &mut BlkClient,
    name: &str,
    before: virtio_blk_api::DriverStats,
    ops: u64,
    cycles: u64,
) {
    let Ok(after) = dev.stats() else { return };
    let copy = after.copy_cycles - before.copy_cycles;
    let irqs = after.interrupts - before.interrupts;
    let notes = after.notifications - before.notifications;
    let hundredths = |x: u64| (x / ops.max(1), x * 100 / ops.max(1) % 100);
    let ((ia, ib), (na, nb)) = (hundredths(irqs), hundredths(notes));
    println!(
        "blkbench: {name}: {} requests, {} cycles each, copying {}% of the time, {ia}.{ib:02} interrupts and {na}.{nb:02} queue notifications per request",
        ops,
        cycles / ops.max(1),
        copy * 100 / cycles.max(1),
    );
}

/// Where one figure's cycles went, per request, from the kernel's CPU
/// accounts (each process's user code and syscalls, idle, interrupts; they
/// add up to the wall). Under `-icount` they count instructions, which do
/// not move with the host's load; idle is then the wait for the device.
fn split(name: &str, a: &sys::CpuTimes, b: &sys::CpuTimes, ops: u64) {
    let per = |x: u64, y: u64| y.wrapping_sub(x) / ops.max(1);
    let mut line = alloc::string::String::new();
    for (x, y) in a.procs[..a.slots].iter().zip(&b.procs[..b.slots]) {
        let c = per(x.cycles, y.cycles);
        if c > 0 {
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {} {c}", y.name()));
        }
    }
    println!(
        "blkbench: {name}: per request, scheduled cycles:{line}, idle {}, interrupts {}; wall {}",
        per(a.idle, b.idle),
        per(a.interrupts, b.interrupts),
        per(a.tsc, b.tsc)
    );
}

fn main() {
    let mut dev = match BlkClient::connect(virtio_blk_api::Resending(Endpoint(0))) {
        Ok(d) => d,
        Err(e) => {
            println!("blkbench: connect failed: {e:?}");
            sys::poweroff(POWEROFF_TEST_FAIL);
            return;
        }
    };
    let region = REGION_BLOCKS.min(dev.block_count());
    let mut big = vec![0x5Au8; 1 << 20];
    let big_blocks = (big.len() / BLOCK_SIZE) as u64;
    let big_slots = region / big_blocks;
    let mut small = vec![0xA5u8; BLOCK_SIZE];
    let mut ok = true;
    let mut x = 0x2545_F491_4F6C_DD1Du64;

    for (figure, &name) in NAMES.iter().enumerate() {
        let before = dev.stats().unwrap_or_default();
        let cpu_before = sys::CpuTimes::read();
        // Marks for scripts/blk_bench_counts.py (QEMU's own counts and CPU
        // time per figure).
        println!("blkbench: mark begin {name}");
        let (bytes, r) = match figure {
            0 => (
                big.len(),
                timed(|i| dev.write(i % big_slots * big_blocks, &big).is_ok()),
            ),
            1 => (
                big.len(),
                timed(|i| dev.read(i % big_slots * big_blocks, &mut big).is_ok()),
            ),
            2 => (BLOCK_SIZE, timed(|i| dev.write(i % region, &small).is_ok())),
            3 => (
                BLOCK_SIZE,
                timed(|i| dev.read(i % region, &mut small).is_ok()),
            ),
            _ => (
                0,
                timed(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    dev.read(x % region, &mut small).is_ok()
                }),
            ),
        };
        println!("blkbench: mark end {name} {}", r.map_or(0, |(n, _, _)| n));
        if let (Ok(a), Ok(b), Some((n, _, _))) = (cpu_before, sys::CpuTimes::read(), r) {
            split(name, &a, &b, n);
        }
        match r {
            Some((n, secs, cycles)) if bytes > 0 => {
                let v = (n as f64 * bytes as f64) / secs / 1e6;
                println!("{name}: {} MB/s", v as u64);
                breakdown(&mut dev, name, before, n, cycles);
            }
            Some((n, secs, cycles)) => {
                println!("{name}: {} req/s", (n as f64 / secs) as u64);
                breakdown(&mut dev, name, before, n, cycles);
            }
            None => {
                println!("blkbench: {name}: a request failed");
                ok = false;
            }
        }
    }
    // Durable small writes (write + flush, as a journal commit does).
    let r = timed(|i| dev.write_with(i % region, &small, true).is_ok());
    match r {
        Some((n, secs, _)) => println!(
            "blkbench: 4 KiB FUA writes (write + flush): {} us each",
            (secs * 1e6 / n as f64) as u64
        ),
        None => ok = false,
    }
    if let Ok(s) = dev.stats() {
        println!(
            "blkbench: driver served {} requests, {} interrupts, most in flight {}",
            s.requests, s.interrupts, s.most_in_flight
        );
    }
    sys::poweroff(if ok {
        POWEROFF_TEST_PASS
    } else {
        POWEROFF_TEST_FAIL
    });
}
