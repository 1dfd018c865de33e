//! A second client of the filesystem service for the QEMU tests (slot 0 =
//! the service). `arg=0`: starts an upload, sends part of it, then dies of
//! a page fault (the service must drop nothing else and keep serving).
//! `arg=1`: stores and reads back blobs and files while the shell works,
//! and leaves its verdict in `/worker/result`.
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

fn main() {
    match userlib::boot_arg() {
        0 => crash_mid_upload(),
        _ => worker(),
    }
}
