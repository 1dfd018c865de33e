//! QEMU test client of the virtio-blk driver, through `BlkClient` (the same
//! `block::BlockDevice` the block service uses). The boot argument picks the
//! scenario; each prints what it checked and powers off with PASS or FAIL.
//!
//! - `arg=1` (`blk`): disk 0 (slot 0, read-write) and disk 1 (slot 1,
//!   read-only): patterns over many blocks including the last, flush, FUA,
//!   out-of-range and short-lease errors, large multi-block requests, a
//!   batch of 64 requests in flight, the read-only disk refusing writes.
//! - `arg=2` / `arg=3` (`blk-persist`): the first boot writes a pattern and
//!   flushes; the second boot (same disk image) reads it back.
//! - `arg=4` (`dma-free`, needs `dma` and `mem=2`): `DMA_FREE` returns
//!   memory (the `mem=` limit admits new allocations after a free), refuses
//!   double frees and addresses outside DMA memory.
//! - `arg=5` (`blk-crash`, the driver started with `arg=20`): the driver
//!   dies with reads in flight. Our call gets `PeerDead`; memory we allocate
//!   afterwards (frames the kernel may have taken back from the driver) is
//!   not overwritten by the device's late DMA; the machine keeps running.
//! - `arg=6..8` (`blk-clients`, slot 1 = the judge): three clients at once,
//!   each in its own region of disk 0, write requests of varying sizes and
//!   batches, read them back while the others' requests are in flight, and
//!   report to the judge.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use block::{BlockDevice, DeviceError, IoRequest};
use userlib::abi::iface::CallError;
use userlib::abi::{POWEROFF_TEST_FAIL, POWEROFF_TEST_PASS};
use userlib::ipc::Endpoint;
use userlib::{println, sys};
use virtio_blk_api::{blk, io_code, BlkClient, BlkError, BLOCK_SIZE};

userlib::entry!(main);

/// Deterministic contents of block `block` written with `seed`.
fn fill(buf: &mut [u8], first: u64, seed: u64) {
    for (i, block) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
        let b = first + i as u64;
        for (j, word) in block.chunks_exact_mut(8).enumerate() {
            let mut x = b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed ^ ((j as u64) << 40);
            x ^= x >> 31;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            word.copy_from_slice(&(x ^ (x >> 29)).to_le_bytes());
        }
    }
}

/// Number of blocks in `buf` that differ from the pattern.
fn wrong_blocks(buf: &[u8], first: u64, seed: u64) -> usize {
    let mut want = vec![0u8; BLOCK_SIZE];
    buf.chunks_exact(BLOCK_SIZE)
        .enumerate()
        .filter(|(i, got)| {
            fill(&mut want, first + *i as u64, seed);
            *got != want.as_slice()
        })
        .count()
}

struct Checks {
    failed: u32,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            self.failed += 1;
        }
        println!("blktest: {} {}", if ok { "ok" } else { "FAILED" }, what);
    }
}

fn write_pattern(
    dev: &mut BlkClient,
    first: u64,
    blocks: u64,
    seed: u64,
) -> Result<(), DeviceError> {
    let mut buf = vec![0u8; blocks as usize * BLOCK_SIZE];
    fill(&mut buf, first, seed);
    dev.write(first, &buf)
}

fn read_wrong(
    dev: &mut BlkClient,
    first: u64,
    blocks: u64,
    seed: u64,
) -> Result<usize, DeviceError> {
    let mut buf = vec![0u8; blocks as usize * BLOCK_SIZE];
    dev.read(first, &mut buf)?;
    Ok(wrong_blocks(&buf, first, seed))
}

fn connect(slot: u64) -> Option<BlkClient> {
    match BlkClient::connect(virtio_blk_api::Resending(Endpoint(slot))) {
        Ok(c) => Some(c),
        Err(e) => {
            println!("blktest: connect to slot {slot} failed: {e:?}");
            None
        }
    }
}

fn main_scenario(c: &mut Checks) {
    let Some(mut dev) = connect(0) else {
        c.check(false, "connect to disk 0");
        return;
    };
    let n = dev.block_count();
    println!("blktest: disk 0 has {n} blocks");
    c.check(n >= 1024, "disk 0 is at least 4 MiB");
    let seed = 0x5eed_0001;

    // Pattern over many blocks: single blocks spread over the disk,
    // including block 0 and the last block.
    let spots: Vec<u64> = (0..64)
        .map(|i| i * (n / 64))
        .chain([n - 2, n - 1])
        .collect();
    let mut ok = true;
    for &b in &spots {
        ok &= write_pattern(&mut dev, b, 1, seed).is_ok();
    }
    c.check(
        ok,
        "66 single-block writes (block 0 .. last block) accepted",
    );
    c.check(dev.flush().is_ok(), "flush");
    let wrong: usize = spots
        .iter()
        .map(|&b| read_wrong(&mut dev, b, 1, seed).unwrap_or(1))
        .sum();
    c.check(
        wrong == 0,
        "66 single blocks read back equal (incl. the last block)",
    );

    // Large multi-block requests, not multiples of the driver's piece size.
    let big = 777u64; // 3.03 MiB: 4 pieces of 256 KiB in flight and a tail
    let r = write_pattern(&mut dev, 100, big, seed + 1);
    c.check(r.is_ok(), "777-block write (3.0 MiB in one request)");
    let wrong = read_wrong(&mut dev, 100, big, seed + 1);
    c.check(wrong == Ok(0), "777-block read back equal");
    let wrong = read_wrong(&mut dev, n - 300, 300, 0).map(|_| ()); // reaches the last block
    c.check(wrong.is_ok(), "300-block read ending at the last block");

    // FUA write.
    let mut one = vec![0u8; BLOCK_SIZE];
    fill(&mut one, 5, seed + 2);
    c.check(dev.write_with(5, &one, true).is_ok(), "FUA write");
    c.check(
        read_wrong(&mut dev, 5, 1, seed + 2) == Ok(0),
        "FUA write read back",
    );

    // Out of range and bad lengths: errors, nothing changes.
    let mut two = vec![0u8; 2 * BLOCK_SIZE];
    let e = dev.read(n - 1, &mut two);
    c.check(
        matches!(e, Err(DeviceError::OutOfRange { first, blocks: 2, block_count }) if first == n - 1 && block_count == n),
        "read past the end -> OutOfRange (client check)",
    );
    // Bypass the client's own check: a raw stub call must be refused by the
    // driver, with the device size in the typed error.
    let stub = blk::Client::new(Endpoint(0));
    let e = stub.read(n, 1, &mut one);
    c.check(
        matches!(e, Err(CallError::Service(BlkError::OutOfRange { first, block_count, .. })) if first == n && block_count == n),
        "raw read at block_count -> driver says OUT_OF_RANGE with the device size",
    );
    let e = stub.read(0, 4, &mut one); // 1 block lent, 4 asked
    c.check(
        matches!(e, Err(CallError::Service(BlkError::BadLength { .. }))),
        "raw read with a lease shorter than the request -> BAD_LENGTH",
    );
    if let Err(e) = e {
        println!("blktest: the driver says: {e}");
    }
    c.check(
        matches!(dev.write(n, &one), Err(DeviceError::OutOfRange { .. })),
        "write at block_count -> OutOfRange",
    );
    c.check(
        read_wrong(&mut dev, n - 1, 1, seed) == Ok(0),
        "last block unchanged after refused requests",
    );

    // Many requests in flight: a batch of 48 writes then 48 reads, scattered.
    let notified0 = dev.stats().map_or(0, |s| s.notifications);
    let mut bufs: Vec<Vec<u8>> = (0..48).map(|_| vec![0u8; BLOCK_SIZE]).collect();
    let blocks: Vec<u64> = (0..48).map(|i| 2000 + i * 37).collect();
    for (buf, &b) in bufs.iter_mut().zip(&blocks) {
        fill(buf, b, seed + 3);
    }
    let mut batch: Vec<IoRequest> = bufs
        .iter()
        .zip(&blocks)
        .map(|(data, &first)| IoRequest::Write { first, data })
        .collect();
    c.check(
        dev.submit(&mut batch).is_ok(),
        "batch of 48 scattered writes",
    );
    drop(batch);
    let mut back: Vec<Vec<u8>> = (0..48).map(|_| vec![0u8; BLOCK_SIZE]).collect();
    let mut batch: Vec<IoRequest> = back
        .iter_mut()
        .zip(&blocks)
        .map(|(buf, &first)| IoRequest::Read { first, buf })
        .collect();
    c.check(
        dev.submit(&mut batch).is_ok(),
        "batch of 48 scattered reads",
    );
    drop(batch);
    let wrong = back
        .iter()
        .zip(&blocks)
        .filter(|(buf, &b)| wrong_blocks(buf, b, seed + 3) != 0)
        .count();
    c.check(wrong == 0, "48 batched reads equal the batched writes");
    match dev.stats() {
        Ok(s) => {
            // One notification per wake-up of the driver, not one per
            // device request (it was 96 for these 96 requests).
            let notified = s.notifications - notified0;
            println!("blktest: 96 batched requests took {notified} queue notifications");
            c.check(
                (1..=24).contains(&notified),
                "96 batched requests took at most 24 queue notifications",
            );
            println!(
                "blktest: driver stats: {} requests, {} blocks read, {} written, {} interrupts, {} most in flight",
                s.requests, s.blocks_read, s.blocks_written, s.interrupts, s.most_in_flight
            );
            c.check(
                s.most_in_flight >= 8,
                "at least 8 device requests were in flight at once",
            );
            println!(
                "blktest: {} device requests zero-copy, {} copied through DMA buffers",
                s.direct_pieces, s.copied_pieces
            );
        }
        Err(e) => c.check(false, &alloc::format!("stats: {e}")),
    }

    // The second disk: its own client, read-only.
    let Some(mut ro) = connect(1) else {
        c.check(false, "connect to disk 1");
        return;
    };
    println!(
        "blktest: disk 1 has {} blocks, read-only {}",
        ro.block_count(),
        ro.read_only()
    );
    c.check(
        ro.read_only() && ro.block_count() != n,
        "disk 1 is a separate, read-only device",
    );
    c.check(ro.read(0, &mut one).is_ok(), "read from the read-only disk");
    c.check(
        matches!(
            ro.write(0, &one),
            Err(DeviceError::Io {
                code: io_code::READ_ONLY,
                ..
            })
        ),
        "write to the read-only disk -> read-only error",
    );
}

const PERSIST_FIRST: u64 = 10;
const PERSIST_BLOCKS: u64 = 300;
const PERSIST_SEED: u64 = 0xb007_0002;

fn persist_scenario(c: &mut Checks, write: bool) {
    let Some(mut dev) = connect(0) else {
        c.check(false, "connect to disk 0");
        return;
    };
    let last = dev.block_count() - 1;
    if write {
        c.check(
            write_pattern(&mut dev, PERSIST_FIRST, PERSIST_BLOCKS, PERSIST_SEED).is_ok()
                && write_pattern(&mut dev, last, 1, PERSIST_SEED).is_ok(),
            "boot 1: wrote 300 blocks and the last block",
        );
        c.check(dev.flush().is_ok(), "boot 1: flush");
    } else {
        let wrong = read_wrong(&mut dev, PERSIST_FIRST, PERSIST_BLOCKS, PERSIST_SEED);
        let wrong_last = read_wrong(&mut dev, last, 1, PERSIST_SEED);
        println!("blktest: boot 2: {wrong:?} of 300 blocks wrong, last block {wrong_last:?} wrong");
        c.check(
            wrong == Ok(0) && wrong_last == Ok(0),
            "boot 2: data of boot 1 read back intact",
        );
    }
}

fn dma_free_scenario(c: &mut Checks) {
    // mem=2: the program, stack and heap use some of it; take DMA memory in
    // 64 KiB pieces until the limit refuses.
    let mut held = Vec::new();
    while let Ok((va, _, size)) = sys::dma_alloc(64 * 1024) {
        held.push((va, size));
    }
    println!(
        "blktest: {} DMA allocations of 64 KiB before the limit",
        held.len()
    );
    c.check(held.len() >= 4, "several DMA allocations under mem=2");
    c.check(
        sys::dma_alloc(64 * 1024) == Err(userlib::Error::NoMemory),
        "DMA_ALLOC at the limit -> NoMemory",
    );
    let (va, size) = held[1];
    c.check(
        sys::dma_free(va, size).is_ok(),
        "DMA_FREE of one allocation",
    );
    c.check(
        sys::dma_free(va, size) == Err(userlib::Error::BadAddress),
        "second DMA_FREE of it -> BadAddress (unmapped)",
    );
    c.check(
        sys::virt_to_phys(va) == Err(userlib::Error::BadAddress),
        "freed DMA memory is no longer mapped",
    );
    let again = sys::dma_alloc(64 * 1024);
    c.check(again.is_ok(), "DMA_ALLOC succeeds again after the free");
    let (va0, _) = held[0];
    c.check(
        sys::dma_free(va0 + 100, 4096) == Err(userlib::Error::BadArgument),
        "unaligned DMA_FREE -> BadArgument",
    );
    let stack_page = (&held as *const _ as u64) & !0xFFF;
    c.check(
        sys::dma_free(stack_page, 4096) == Err(userlib::Error::BadArgument),
        "DMA_FREE of a stack page -> BadArgument",
    );
    c.check(
        sys::dma_free(va0, 0) == Err(userlib::Error::BadArgument),
        "DMA_FREE of 0 bytes -> BadArgument",
    );
    // Partial free of a multi-page allocation keeps the rest usable.
    let (va2, size2) = held[2];
    c.check(
        sys::dma_free(va2, 4096).is_ok(),
        "DMA_FREE of the first page of an allocation",
    );
    c.check(
        sys::virt_to_phys(va2 + 4096).is_ok() && sys::virt_to_phys(va2).is_err(),
        "the rest of that allocation stays mapped",
    );
    c.check(
        sys::dma_free(va2 + 4096, size2 - 4096).is_ok(),
        "DMA_FREE of the rest",
    );
    // LEASE_PHYS needs a caller waiting for our reply.
    c.check(
        sys::lease_phys(0x1234_5678, 0, 0, userlib::abi::lease::READ).is_err(),
        "LEASE_PHYS with a token naming no caller -> error",
    );
}

fn crash_scenario(c: &mut Checks) {
    let Some(mut dev) = connect(0) else {
        c.check(false, "connect to disk 0");
        return;
    };
    // 12 write pieces of 64 blocks, then a read of 12 pieces during which
    // the driver (arg=20) dies with 8 of them in flight.
    c.check(
        write_pattern(&mut dev, 0, 768, 0xc0ffee).is_ok(),
        "768-block write before the crash",
    );
    let mut buf = vec![0u8; 768 * BLOCK_SIZE];
    let r = dev.read(0, &mut buf);
    let dead = -(userlib::Error::PeerDead as i32);
    c.check(
        matches!(r, Err(DeviceError::Io { code, .. }) if code == dead),
        "read during the driver's death -> PeerDead",
    );
    // Take memory (the allocator may hand out any free frame), fill it, and
    // give the device time to finish what the driver had queued.
    let (va, size) = match sys::mem_alloc(8 << 20) {
        Ok(m) => m,
        Err(e) => {
            c.check(false, &alloc::format!("MEM_ALLOC after the crash: {e:?}"));
            return;
        }
    };
    // Safety: MEM_ALLOC mapped `size` bytes at `va` for this process only.
    let mem = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, size as usize) };
    mem.fill(0x77);
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + 30 {
        sys::yield_now();
    }
    c.check(
        mem.iter().all(|&b| b == 0x77),
        "8 MiB allocated after the crash stay intact",
    );
    c.check(
        matches!(dev.flush(), Err(DeviceError::Io { code, .. }) if code == dead),
        "later calls to the dead driver -> PeerDead",
    );
}

fn clients_scenario(c: &mut Checks, index: u64) {
    let Some(mut dev) = connect(0) else {
        c.check(false, "connect to disk 0");
        return;
    };
    let base = 1000 + index * 4000;
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ index;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let (mut blocks_total, mut wrong_total, mut failed_calls) = (0u64, 0usize, 0u32);
    for round in 0..20u64 {
        let seed = index << 32 | round;
        let first = base + next(3000);
        let blocks = 1 + next(200);
        if write_pattern(&mut dev, first, blocks, seed).is_err() {
            failed_calls += 1;
        }
        match read_wrong(&mut dev, first, blocks, seed) {
            Ok(w) => wrong_total += w,
            Err(_) => failed_calls += 1,
        }
        blocks_total += blocks;
        // A batch of 8 single-block writes then reads, scattered.
        let spots: Vec<u64> = (0..8).map(|i| base + 3300 + i * 80 + next(80)).collect();
        let mut bufs: Vec<Vec<u8>> = spots
            .iter()
            .map(|&b| {
                let mut v = vec![0u8; BLOCK_SIZE];
                fill(&mut v, b, seed);
                v
            })
            .collect();
        let mut batch: Vec<IoRequest> = bufs
            .iter()
            .zip(&spots)
            .map(|(data, &first)| IoRequest::Write { first, data })
            .collect();
        if dev.submit(&mut batch).is_err() {
            failed_calls += 1;
        }
        drop(batch);
        let mut batch: Vec<IoRequest> = bufs
            .iter_mut()
            .zip(&spots)
            .map(|(buf, &first)| IoRequest::Read { first, buf })
            .collect();
        if dev.submit(&mut batch).is_err() {
            failed_calls += 1;
        }
        drop(batch);
        wrong_total += bufs
            .iter()
            .zip(&spots)
            .map(|(b, &first)| wrong_blocks(b, first, seed))
            .sum::<usize>();
    }
    println!(
        "blktest: client {index}: 20 rounds, {blocks_total} blocks in requests of 1..200 and 320 batched, {wrong_total} wrong, {failed_calls} failed calls"
    );
    c.check(
        wrong_total == 0 && failed_calls == 0,
        "concurrent client's data read back equal",
    );
}

fn main() {
    let mut c = Checks { failed: 0 };
    match userlib::boot_arg() {
        1 => main_scenario(&mut c),
        2 => persist_scenario(&mut c, true),
        3 => persist_scenario(&mut c, false),
        4 => dma_free_scenario(&mut c),
        5 => crash_scenario(&mut c),
        6..=8 => {
            clients_scenario(&mut c, userlib::boot_arg() - 6);
            // Report to the judge (slot 1), which powers off after all three.
            let verdict = testsvc::JudgeRequest::Verdict {
                pass: c.failed == 0,
                code: c.failed as u64,
                expected: 3,
            };
            let _ = Endpoint(1).call(&verdict, &[]);
            loop {
                sys::yield_now();
            }
        }
        other => c.check(false, &alloc::format!("unknown scenario arg={other}")),
    }
    if c.failed == 0 {
        println!("blktest: PASS");
        sys::poweroff(POWEROFF_TEST_PASS);
    } else {
        println!("blktest: {} checks FAILED", c.failed);
        sys::poweroff(POWEROFF_TEST_FAIL);
    }
}
