//! Raw disk throughput through the driver, as a client service sees it
//! (`make bench`, QEMU TCG). Prints `name: value unit` lines:
//! sequential read and write with 4 KiB and 1 MiB requests, and random
//! 4 KiB reads per second. Each figure runs for at least `MIN_TICKS`
//! timer ticks (100 Hz) over a region written beforehand (so reads hit real
//! data, not holes of a sparse image). After each figure a `blkbench:` line
//! says where the time went: the share the driver spent copying between
//! leases and DMA buffers, and interrupts per request.
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
    println!(
        "blkbench: {name}: {} requests, {} cycles each, copying {}% of the time, {}.{:02} interrupts per request",
        ops,
        cycles / ops.max(1),
        copy * 100 / cycles.max(1),
        irqs / ops.max(1),
        irqs * 100 / ops.max(1) % 100
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

    for figure in 0..5 {
        let before = dev.stats().unwrap_or_default();
        let (name, bytes, r) = match figure {
            0 => (
                "blk_seq_write_1m_MBps",
                big.len(),
                timed(|i| dev.write(i % big_slots * big_blocks, &big).is_ok()),
            ),
            1 => (
                "blk_seq_read_1m_MBps",
                big.len(),
                timed(|i| dev.read(i % big_slots * big_blocks, &mut big).is_ok()),
            ),
            2 => (
                "blk_seq_write_4k_MBps",
                BLOCK_SIZE,
                timed(|i| dev.write(i % region, &small).is_ok()),
            ),
            3 => (
                "blk_seq_read_4k_MBps",
                BLOCK_SIZE,
                timed(|i| dev.read(i % region, &mut small).is_ok()),
            ),
            _ => (
                "blk_4k_read_iops",
                0,
                timed(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    dev.read(x % region, &mut small).is_ok()
                }),
            ),
        };
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
