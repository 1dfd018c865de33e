//! Small-put clients run as several processes at once (group commit).
//!
//! Bench clients (`arg` 1..=255, slot 0 = the filesystem service, slot 1 =
//! the benchmark `fsbench`): each makes its 4 KiB blobs, calls the
//! benchmark [`READY`] and is answered when every client should start,
//! puts its blobs one after another (each call returns once the put is
//! durable), and calls [`DONE`] with the count stored and failed.
//!
//! Test clients (`arg` = [`TEST`] | n, slot 0 = the filesystem service):
//! put [`TEST_PUTS`] blobs at once with the others and print
//! `putter n: acked <digest>` after each durable reply, then
//! `putter n: done` (scripts/storage_tests.py `storage-group-commit`
//! kills QEMU meanwhile and checks every acknowledged blob after a reboot).
//!
//! Test uploader (`arg` = [`UPLOAD`]): uploads a [`UPLOAD_PIECES`] MiB blob
//! in 1 MiB `blob_write` requests beside the putters, printing `uploader:
//! piece i stored` after each: the putters' acknowledgements between those
//! lines show a long upload does not hold the small puts for its duration.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fs_api::client::FsClient;
use userlib::ipc::{recv, Endpoint, Incoming, ReplyToken};
use userlib::println;
use userlib::Message;

use crate::{fill, seconds, sha256_digest};

const FS: FsClient = FsClient::new(0);
const BENCH: Endpoint = Endpoint(1);

/// Label of a bench client's first call: answered at the start.
pub const READY: u64 = 1;
/// Label of its last call: words 0 and 1, puts stored and failed.
pub const DONE: u64 = 2;
/// Boot argument bit of a test client.
pub const TEST: u64 = 0x100;
/// Blobs each test client puts.
pub const TEST_PUTS: u64 = 24;
/// Boot argument of the test uploader, and its blob's size in MiB.
pub const UPLOAD: u64 = 0x200;
pub const UPLOAD_PIECES: u64 = 16;

/// Bench clients and the 4 KiB blobs each puts.
pub const CLIENTS: usize = 4;
pub const PUTS_EACH: u64 = 100;
const SMALL: usize = 4096;

/// The blobs of client `n` and their digests.
fn blobs(n: u64, count: u64) -> Vec<(Vec<u8>, String)> {
    (0..count)
        .map(|i| {
            let mut data = vec![0u8; SMALL];
            fill(0xC11E_0000 + (n << 12) + i, &mut data);
            let d = sha256_digest(&data);
            (data, d)
        })
        .collect()
}

/// A small-put client (see the module's text).
pub fn putter(arg: u64) {
    if arg == UPLOAD {
        upload();
        return;
    }
    let n = arg & 0xFF;
    let repo = format!("group/c{n}");
    if arg & TEST != 0 {
        for (data, d) in blobs(n, TEST_PUTS) {
            match FS.blob_put(&repo, &d, &data) {
                Ok(_) => println!("putter {n}: acked {d}"),
                Err(e) => println!("putter {n}: put failed: {e}"),
            }
        }
        println!("putter {n}: done");
        return;
    }
    let blobs = blobs(n, PUTS_EACH);
    if BENCH
        .call_message(&mut Message::new(READY, &[]), &[])
        .is_err()
    {
        println!("putter {n}: the benchmark does not answer");
        return;
    }
    let mut stored = 0u64;
    let mut failed = 0u64;
    for (data, d) in &blobs {
        match FS.blob_put(&repo, d, data) {
            Ok(_) => stored += 1,
            Err(e) => {
                println!("putter {n}: put failed: {e}");
                failed += 1;
            }
        }
    }
    let _ = BENCH.call_message(&mut Message::new(DONE, &[stored, failed]), &[]);
}

/// The test uploader (see the module's text).
fn upload() {
    let mut piece = vec![0u8; 1 << 20];
    let mut hash = sha256tcg::Sha256::new();
    for i in 0..UPLOAD_PIECES {
        fill(0x0B16_0000 + i, &mut piece);
        hash.update(&piece);
    }
    let digest = crate::digest_text(&hash.finalize());
    let total = UPLOAD_PIECES << 20;
    if let Err(e) = FS.blob_begin("group/large", &digest, total) {
        println!("uploader: begin failed: {e}");
        return;
    }
    for i in 0..UPLOAD_PIECES {
        fill(0x0B16_0000 + i, &mut piece);
        match FS.blob_write(&piece) {
            Ok(_) => println!("uploader: piece {i} stored"),
            Err(e) => {
                println!("uploader: piece {i} failed: {e}");
                return;
            }
        }
    }
    match FS.blob_finish() {
        Ok(_) => println!("uploader: blob stored {digest}"),
        Err(e) => println!("uploader: finish failed: {e}"),
    }
}

/// The device's flush count, from the service's `stats` (0 if unreadable).
pub fn device_flushes() -> u64 {
    let mut text = vec![0u8; 16 * 1024];
    let Ok(r) = FS.stats(&mut text) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&text[..r.written]);
    // "device: R reads (B blocks), W writes (B blocks), F flushes"
    text.lines()
        .filter(|l| l.starts_with("device:"))
        .filter_map(|l| l.trim_end().strip_suffix(" flushes"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

/// Prints `name: F.FF flushes` for `puts` puts since `before` flushes.
pub fn flushes_line(name: &str, before: u64, puts: u64) {
    let spent = device_flushes().saturating_sub(before);
    let hundredths = spent * 100 / puts.max(1);
    println!(
        "{name}: {}.{:02} flushes",
        hundredths / 100,
        hundredths % 100
    );
}

/// Waits for `count` calls labelled `label`; their reply tokens and words.
fn gather(label: u64, count: usize) -> Vec<(ReplyToken, [u64; 2])> {
    let mut calls = Vec::new();
    while calls.len() < count {
        if let Ok(Incoming::Call { token, msg, .. }) = recv(0) {
            if msg.label == label {
                calls.push((token, [msg.words[0], msg.words[1]]));
            } else {
                let _ = token.reply_err(1);
            }
        }
    }
    calls
}

/// Four clients put 4 KiB blobs at once, each waiting for its durable
/// reply: `fs_small_put_ops_4clients` (all their puts per second) and
/// `fs_flushes_per_small_put_4clients`.
pub fn four_clients(ok: &mut bool) {
    let ready = gather(READY, CLIENTS);
    let flushes0 = device_flushes();
    // Marks for a host-side harness (scripts/profile.py samples between them).
    let bytes = CLIENTS as u64 * PUTS_EACH * SMALL as u64;
    println!("fsbench: mark begin small_put_4clients {bytes}");
    let cpu = crate::cpu_phase::Phase::begin();
    let t0 = seconds();
    for (token, _) in ready {
        let _ = token.reply_ok(&[]);
    }
    let done = gather(DONE, CLIENTS);
    let secs = seconds() - t0;
    if let Some(cpu) = cpu {
        cpu.end("small_put_4clients");
    }
    println!("fsbench: mark end small_put_4clients");
    let stored: u64 = done.iter().map(|(_, w)| w[0]).sum();
    let failed: u64 = done.iter().map(|(_, w)| w[1]).sum();
    for (token, _) in done {
        let _ = token.reply_ok(&[]);
    }
    if failed != 0 || stored != CLIENTS as u64 * PUTS_EACH {
        println!("fsbench: four clients stored {stored} puts, {failed} failed");
        *ok = false;
        return;
    }
    println!(
        "fs_small_put_ops_4clients: {} ops/s",
        (stored as f64 / secs) as u64
    );
    flushes_line("fs_flushes_per_small_put_4clients", flushes0, stored);
}
