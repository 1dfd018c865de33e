//! The client of `storage-upload-death` (`fsclient arg=6`;
//! scripts/upload_death_tests.py): starts an upload session in
//! `dead/uploads`, appends to it, says so, waits until `/udier/go`
//! exists (the shell lists the session meanwhile), then dies of a page
//! fault with the session open: the service must cancel it at the death
//! notice, not leave it to the idle reaper.

use fs_api::client::FsClient;
use userlib::println;

use crate::{fill, seconds};

const FS: FsClient = FsClient::new(0);

/// Starts the session, then dies with it open.
pub fn upload_dier() {
    let mut data = alloc::vec![0u8; 40 * 1024];
    fill(0xDEAD, &mut data);
    let id = match FS.upload_start("dead/uploads") {
        Ok(id) => id,
        Err(e) => return println!("fsclient: upload-dier: FAIL upload start: {e}"),
    };
    if let Err(e) = FS.upload_append("dead/uploads", id, 0, &data) {
        return println!("fsclient: upload-dier: FAIL append: {e}");
    }
    println!("fsclient: upload-dier: session open");
    let start = seconds();
    let mut next = start;
    loop {
        if seconds() >= next {
            if FS.stat("/udier/go").is_ok() {
                break;
            }
            next = seconds() + 0.05;
        }
        if seconds() - start > 300.0 {
            return println!("fsclient: upload-dier: FAIL no /udier/go");
        }
        userlib::sys::yield_now();
    }
    println!("fsclient: upload-dier: dying with the session open");
    // Safety: not sound on purpose: reading the unmapped page at 0x10 is the
    // fault the test is about; the kernel ends this process at this read.
    let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("fsclient: upload-dier: still alive?! {v}");
}
