//! The `storage-block-death` QEMU test: a client that dies holding the
//! block service's transaction does not hold the service.
//!
//! - `arg=0` (holder): begins, writes a marker into root slot 2, delegates
//!   the transaction to badge 3, waits while the second client's `begin`
//!   queues behind it, then exits without committing.
//! - `arg=1` (second, with the poweroff grant): calls `begin` while the
//!   holder's transaction is open; the service answers it once the holder
//!   has died and its transaction is aborted. It checks that the marker is
//!   not visible, that the holder's delegate (badge 3, never running) is no
//!   longer accepted, commits its own transaction, and reports.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::BlockClient;
use userlib::abi::{POWEROFF_TEST_FAIL, POWEROFF_TEST_PASS};
use userlib::{println, sys};

userlib::entry!(main);

const MARKER: u8 = 0xD1;

/// Lets the other processes run for `ticks` timer ticks.
fn pause(ticks: u64) {
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + ticks {
        sys::yield_now();
    }
}

fn holder(store: &mut BlockClient) -> Result<(), block::Error> {
    store.set_delegate(Some(3));
    store.begin()?;
    store.write(store.root_block(2), &vec![MARKER; BLOCK_SIZE])?;
    println!(
        "blockdeath: holder: transaction {} open and written; exiting without commit",
        store.transaction()
    );
    pause(60);
    Ok(())
}

fn second(store: &mut BlockClient) -> Result<bool, block::Error> {
    pause(20);
    println!("blockdeath: second: calling begin");
    store.begin()?;
    println!(
        "blockdeath: second: begin returned transaction {}",
        store.transaction()
    );
    let mut block = vec![0u8; BLOCK_SIZE];
    store.read(store.root_block(2), &mut block)?;
    let hidden = !block.contains(&MARKER);
    println!("blockdeath: second: the dead holder's write is invisible: {hidden}");
    store.write(store.root_block(3), &vec![0x5A; BLOCK_SIZE])?;
    store.commit(Durability::Durable)?;
    store.read(store.root_block(3), &mut block)?;
    let committed = block.iter().all(|&b| b == 0x5A);
    println!("blockdeath: second: own transaction committed: {committed}");
    Ok(hidden && committed)
}

fn main() {
    let mut store = match BlockClient::connect(0) {
        Ok(s) => s,
        Err(e) => {
            println!("blockdeath: cannot connect: {e}");
            sys::poweroff(POWEROFF_TEST_FAIL);
            return;
        }
    };
    if userlib::boot_arg() == 0 {
        if let Err(e) = holder(&mut store) {
            println!("blockdeath: holder: {e}");
        }
        return;
    }
    let mut verdict = match second(&mut store) {
        Ok(v) => v,
        Err(e) => {
            println!("blockdeath: second: {e}");
            false
        }
    };
    let mut text = vec![0u8; 4096];
    match store.report(block_api::report::STATS, &mut text) {
        Ok(n) => {
            for line in core::str::from_utf8(&text[..n]).unwrap_or("").lines() {
                if line.starts_with("service") {
                    println!("blockdeath: {line}");
                }
            }
        }
        Err(e) => {
            println!("blockdeath: report: {e}");
            verdict = false;
        }
    }
    println!("blockdeath: {}", if verdict { "PASS" } else { "FAIL" });
    sys::poweroff(if verdict {
        POWEROFF_TEST_PASS
    } else {
        POWEROFF_TEST_FAIL
    });
}
