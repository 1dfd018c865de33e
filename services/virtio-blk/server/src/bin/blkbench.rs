//! Raw disk throughput through the driver, as a client service sees it
//! (`make bench`, QEMU TCG). Prints `name: value unit` lines:
//! sequential read and write with 4 KiB and 1 MiB requests, and random
//! 4 KiB reads per second. Each figure runs for at least `MIN_TICKS`
//! timer ticks (100 Hz) over a region written beforehand (so reads hit real
//! data, not holes of a sparse image).
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

/// Runs `op(i)` until MIN_TICKS passed; returns (operations, seconds).
fn timed(mut op: impl FnMut(u64) -> bool) -> Option<(u64, f64)> {
    let (start, hz) = sys::ticks();
    let mut n = 0;
    loop {
        if !op(n) {
            return None;
        }
        n += 1;
        let (now, _) = sys::ticks();
        if now - start >= MIN_TICKS {
            return Some((n, (now - start) as f64 / hz as f64));
        }
    }
}

fn main() {
    let mut dev = match BlkClient::connect(Endpoint(0)) {
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
    let mut small = vec![0xA5u8; BLOCK_SIZE];
    let mut ok = true;
    let mut mbps = |name: &str, bytes_per_op: usize, r: Option<(u64, f64)>| match r {
        Some((n, secs)) => {
            let v = (n as f64 * bytes_per_op as f64) / secs / 1e6;
            println!("{name}: {} MB/s", v as u64);
        }
        None => ok = false,
    };

    let r = timed(|i| {
        dev.write(
            (i * big_blocks) % (region - big_blocks + 1) / big_blocks * big_blocks,
            &big,
        )
        .is_ok()
    });
    mbps("blk_seq_write_1m_MBps", big.len(), r);
    let r = timed(|i| {
        dev.read(
            (i * big_blocks) % (region - big_blocks + 1) / big_blocks * big_blocks,
            &mut big,
        )
        .is_ok()
    });
    mbps("blk_seq_read_1m_MBps", big.len(), r);
    let r = timed(|i| dev.write(i % region, &small).is_ok());
    mbps("blk_seq_write_4k_MBps", BLOCK_SIZE, r);
    let r = timed(|i| dev.read(i % region, &mut small).is_ok());
    mbps("blk_seq_read_4k_MBps", BLOCK_SIZE, r);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let r = timed(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dev.read(x % region, &mut small).is_ok()
    });
    match r {
        Some((n, secs)) => println!("blk_4k_read_iops: {} req/s", (n as f64 / secs) as u64),
        None => ok = false,
    }
    if let Ok(s) = dev.stats() {
        println!(
            "blkbench: driver served {} requests, {} interrupts, most in flight {}",
            s[0], s[3], s[4]
        );
    }
    sys::poweroff(if ok {
        POWEROFF_TEST_PASS
    } else {
        POWEROFF_TEST_FAIL
    });
}
