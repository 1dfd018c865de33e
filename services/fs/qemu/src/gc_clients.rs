//! The clients of the QEMU test `storage-gc-steps` (scripts/gc_tests.py),
//! beside the shell, which runs `gc` and `fsck`:
//!
//! - [`putter`] (`fsclient arg=5`): once `/putter/go` exists, puts 16 KiB
//!   blobs one after another (creating `/putter/started` after the first,
//!   which the test waits for before it collects) until `/putter/stop`
//!   exists; then reads every one back again and leaves its verdict in
//!   `/putter/result` (not on the console, where it could land in the
//!   middle of the shell's echo). Its puts are served between the steps of
//!   the shell's stepped `gc`.
//! - [`dier`] (`fsclient arg=4`): once `/dier/go` exists, starts a stepped
//!   fsck and a stepped chunk GC, takes one step of each, says so, and
//!   dies of a page fault with both runs open: the service must end them
//!   (death notices), and the shell's `gc` and `fsck` then work.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fs_api::client::FsClient;
use userlib::println;

use crate::{fill, seconds, sha256_digest};

const FS: FsClient = FsClient::new(0);
/// Bytes of each putter blob.
const BLOB: usize = 16 * 1024;
/// At most this many blobs (the test stops it much sooner).
const MAX_PUTS: u64 = 2000;

/// Waits (up to `limit` seconds) until `path` exists.
fn wait_for(path: &str, limit: f64) -> Result<(), String> {
    let start = seconds();
    let mut next = start;
    loop {
        if seconds() >= next {
            if FS.stat(path).is_ok() {
                return Ok(());
            }
            next = seconds() + 0.05;
        }
        if seconds() - start > limit {
            return Err(format!("{path} did not appear in {limit} s"));
        }
        userlib::sys::yield_now();
    }
}

fn blob(i: u64) -> (Vec<u8>, String) {
    let mut data = vec![0u8; BLOB];
    fill(0x6C00_0000 + i, &mut data);
    let d = sha256_digest(&data);
    (data, d)
}

/// Puts blobs until told to stop; the verdict goes to `/putter/result`.
pub fn putter() {
    let verdict = match puts() {
        Ok(n) => format!("PASS {n} blobs put and read back intact"),
        Err(why) => format!("FAIL {why}"),
    };
    let r = FS
        .create("/putter/result")
        .and_then(|()| FS.append("/putter/result", verdict.as_bytes()));
    if let Err(e) = r {
        println!("fsclient: putter: cannot write its verdict ({verdict}): {e}");
    }
}

fn puts() -> Result<u64, String> {
    wait_for("/putter/go", 300.0)?;
    let mut back = vec![0u8; BLOB];
    let mut n = 0u64;
    while n < MAX_PUTS && FS.stat("/putter/stop").is_err() {
        let (data, d) = blob(n);
        FS.blob_put("gc/putter", &d, &data)
            .map_err(|e| format!("put {n}: {e}"))?;
        n += 1;
        if n == 1 {
            // The test starts collecting only once puts are flowing (on a
            // quiet machine its collections can otherwise all end before
            // the putter first runs).
            FS.create("/putter/started")
                .map_err(|e| format!("/putter/started: {e}"))?;
        }
    }
    // Everything put is still there after the collections.
    for i in 0..n {
        let (data, d) = blob(i);
        match FS.blob_read(&d, 0, &mut back) {
            Ok((len, _)) if back[..len] == data[..] => {}
            Ok(_) => return Err(format!("blob {i} read back different")),
            Err(e) => return Err(format!("blob {i}: {e}")),
        }
    }
    Ok(n)
}

/// Opens a stepped fsck and a stepped GC, then dies with both open.
pub fn dier() {
    let mut text = vec![0u8; 16 * 1024];
    if let Err(why) = wait_for("/dier/go", 300.0) {
        return println!("fsclient: dier: FAIL {why}");
    }
    match FS.fsck_step(true, &mut text) {
        Ok(None) => {}
        Ok(Some(_)) => return println!("fsclient: dier: FAIL the fsck ended in one step"),
        Err(e) => return println!("fsclient: dier: FAIL fsck step: {e}"),
    }
    match FS.gc_step(true, false, &mut text) {
        Ok(None) => {}
        Ok(Some(_)) => return println!("fsclient: dier: FAIL the gc ended in one step"),
        Err(e) => return println!("fsclient: dier: FAIL gc step: {e}"),
    }
    println!("fsclient: dier: fsck and gc runs open; dying");
    // Safety: not sound on purpose: reading the unmapped page at 0x10 is the
    // fault the test is about; the kernel ends this process at this read.
    let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("fsclient: dier: still alive?! {v}");
}
