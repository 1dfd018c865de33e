//! A second client of the filesystem service for the QEMU tests (slot 0 =
//! the service). `arg=0`: starts an upload, sends part of it, then dies of
//! a page fault (the service must drop nothing else and keep serving).
//! `arg=1`: stores and reads back blobs and files while the shell works,
//! and leaves its verdict in `/worker/result`.
//! `arg=2`: a client the boot configuration gives read only: it reads, and
//! every change, snapshot and maintenance call it tries is refused before
//! it runs (`read_only`; scripts/storage_tests.py `storage-rights`).
//! `arg=3`: an admin client that starts a stepped fsck, does one step,
//! and takes the rest only once the shell has changed the store in the
//! middle of its run (`fsck_stepper`; `storage-fsck-steps`).
//! `arg=4`, `arg=5`: the dier and the putter of `storage-gc-steps`
//! (`fs_qemu::gc_clients`).
//! `arg=6`: the upload dier of `storage-upload-death`
//! (`fs_qemu::upload_dier`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec;
use fs_api::client::FsClient;
use fs_qemu::{fill, sha256_digest};
use userlib::println;

userlib::entry!(main);

const FS: FsClient = FsClient::new(0);

fn crash_mid_upload() {
    let mut data = vec![0u8; 300 * 1024];
    fill(0xC0FFEE, &mut data);
    let digest = sha256_digest(&data);
    let begun = FS.blob_begin("crash/test", &digest, data.len() as u64);
    let sent = begun.and_then(|()| FS.blob_write(&data[..100 * 1024]));
    println!("fsclient: crashing mid-upload after {sent:?}");
    // Safety: not sound on purpose: reading the unmapped page at 0x10 is the
    // fault the test is about; the kernel ends this process at this read.
    let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("fsclient: still alive?! {v}");
}

/// Stores and reads back blobs and files; the verdict goes into
/// `/worker/result` (not to the console, where it could land in the middle
/// of the shell's echo and confuse the test driver).
fn worker() {
    let verdict = work();
    let r = FS
        .create("/worker/result")
        .and_then(|()| FS.append("/worker/result", verdict.as_bytes()));
    if let Err(e) = r {
        println!("fsclient: worker: cannot write its verdict ({verdict}): {e}");
    }
}

fn work() -> alloc::string::String {
    const ROUNDS: u64 = 20;
    let mut data = vec![0u8; 64 * 1024];
    let mut back = vec![0u8; 64 * 1024];
    for i in 0..ROUNDS {
        fill(0xAB00 + i, &mut data);
        let digest = sha256_digest(&data);
        let path = format!("/worker/file{i}");
        let blob = FS
            .blob_put("worker/test", &digest, &data)
            .and_then(|_| FS.blob_read(&digest, 0, &mut back));
        match blob {
            Ok((n, _)) if back[..n] == data[..] => {}
            Ok(_) => return format!("FAIL blob {i} read back different"),
            Err(e) => return format!("FAIL blob round {i}: {e}"),
        }
        let file = FS
            .create(&path)
            .and_then(|()| FS.append(&path, &data))
            .and_then(|_| FS.read(&path, 0, &mut back));
        match file {
            Ok((n, _)) if back[..n] == data[..] => {}
            Ok(_) => return format!("FAIL file {i} read back different"),
            Err(e) => return format!("FAIL file round {i}: {e}"),
        }
    }
    format!("PASS {ROUNDS} blobs and files stored and read back intact")
}

/// The file the shell writes for the read-only client to read.
const SEED: &str = "/rights/seed.txt";
/// What the shell writes into it (scripts/storage_tests.py).
const SEED_TEXT: &[u8] = b"written-by-the-shell";

/// Runs as a client with read only: first reads what a fresh filesystem
/// has and tries each kind of change (every one must be refused in plain
/// words), then waits for the shell to write `SEED` and reads it back.
/// Its lines go to the console while the test driver waits for them.
fn read_only() {
    let verdict = match refusals().and_then(|n| read_seed().map(|()| n)) {
        Ok(n) => format!("PASS read allowed, {n} changes refused"),
        Err(why) => format!("FAIL {why}"),
    };
    println!("fsclient: read-only: {verdict}");
}

/// Reads allowed, then every change refused; the number refused.
fn refusals() -> Result<usize, alloc::string::String> {
    let mut text = vec![0u8; 4096];
    let root = FS.stat("/").map_err(|e| format!("stat / failed: {e}"))?;
    FS.df(&mut text).map_err(|e| format!("df failed: {e}"))?;
    let data = b"not-allowed";
    let digest = sha256_digest(data);
    let attempts: [(&str, fs_api::client::Result<()>); 12] = [
        ("create", FS.create("/ro.txt")),
        ("append", FS.append(SEED, data).map(drop)),
        ("mkdir", FS.mkdir("/ro")),
        ("put", FS.put_begin("/ro.txt", 3)),
        ("blob put", FS.blob_put("ro/test", &digest, data).map(drop)),
        ("snap create", FS.snap_create("ro-snap")),
        ("snap restore", FS.snap_restore("ro-snap")),
        ("gc", FS.gc(false, &mut text).map(drop)),
        ("registry gc", FS.registry_gc(false, 0, &mut text).map(drop)),
        ("fsck", FS.fsck(&mut text).map(drop)),
        ("sync", FS.sync()),
        ("shutdown", FS.shutdown()),
    ];
    for (what, result) in &attempts {
        match result {
            Err(e) if matches!(e.service(), Some(fs_api::FsError::NotPermitted { .. })) => {
                println!("fsclient: read-only: {what} refused: {e}");
            }
            Err(e) => return Err(format!("{what} failed otherwise: {e}")),
            Ok(()) => return Err(format!("{what} was allowed")),
        }
    }
    println!(
        "fsclient: read-only: stat / (directory: {}) and df allowed; waiting for {SEED}",
        root.is_dir
    );
    Ok(attempts.len())
}

/// Waits (up to 60 s) for the shell's `SEED` and reads it back.
fn read_seed() -> Result<(), alloc::string::String> {
    let start = fs_qemu::seconds();
    let mut next = start;
    loop {
        // One stat every 50 ms; the test driver writes the seed as soon
        // as it has seen the refusals.
        if fs_qemu::seconds() >= next {
            if FS.stat(SEED).is_ok() {
                break;
            }
            next = fs_qemu::seconds() + 0.05;
        }
        if fs_qemu::seconds() - start > 60.0 {
            return Err(format!("{SEED} did not appear in 60 s"));
        }
        userlib::sys::yield_now();
    }
    let mut back = vec![0u8; 256];
    let (n, size) = FS
        .read(SEED, 0, &mut back)
        .map_err(|e| format!("read {SEED} failed: {e}"))?;
    if back[..n] != *SEED_TEXT || size != SEED_TEXT.len() as u64 {
        return Err(format!(
            "{SEED} read back {n} of {size} bytes, not the shell's"
        ));
    }
    let mut list = vec![0u8; 4096];
    FS.list("/rights", "", 16, &mut list)
        .map_err(|e| format!("list /rights failed: {e}"))?;
    Ok(())
}

/// Waits (up to 120 s) until `path` exists.
fn wait_for(path: &str) -> Result<(), alloc::string::String> {
    let start = fs_qemu::seconds();
    let mut next = start;
    loop {
        if fs_qemu::seconds() >= next {
            if FS.stat(path).is_ok() {
                return Ok(());
            }
            next = fs_qemu::seconds() + 0.05;
        }
        if fs_qemu::seconds() - start > 120.0 {
            return Err(format!("{path} did not appear in 120 s"));
        }
        userlib::sys::yield_now();
    }
}

/// Starts a stepped fsck once the shell has filled the store
/// (`/stepper/ready`), does one step, says so, and waits for the shell's
/// changes in the middle of the run (`/stepper/go`); then steps to the end.
fn fsck_stepper() {
    let mut text = vec![0u8; 16 * 1024];
    let verdict = (|| {
        wait_for("/stepper/ready")?;
        match FS.fsck_step(true, &mut text) {
            Ok(None) => {}
            Ok(Some(_)) => return Err("the run ended in its first step".into()),
            Err(e) => return Err(format!("first step: {e}")),
        }
        println!("fsclient: stepper: fsck run in progress; waiting for /stepper/go");
        wait_for("/stepper/go")?;
        let mut steps = 1u64;
        loop {
            steps += 1;
            match FS.fsck_step(false, &mut text) {
                Ok(None) => {}
                Ok(Some(r)) => {
                    let report = alloc::string::String::from_utf8_lossy(&text[..r.written]);
                    let last = alloc::string::String::from(report.lines().last().unwrap_or(""));
                    return Ok::<_, alloc::string::String>((steps, last));
                }
                Err(e) => return Err(format!("step {steps}: {e}")),
            }
        }
    })();
    match verdict {
        Ok((steps, last)) => {
            println!(
                "fsclient: stepper: done in {steps} steps, the shell's changes between: {last}"
            )
        }
        Err(why) => println!("fsclient: stepper: FAIL {why}"),
    }
}

fn main() {
    match userlib::boot_arg() {
        0 => crash_mid_upload(),
        2 => read_only(),
        3 => fsck_stepper(),
        4 => fs_qemu::gc_clients::dier(),
        5 => fs_qemu::gc_clients::putter(),
        6 => fs_qemu::upload_dier::upload_dier(),
        _ => worker(),
    }
}
