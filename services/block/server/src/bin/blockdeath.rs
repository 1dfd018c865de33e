//! The `storage-block-death` and `storage-block-delegate-death` QEMU
//! tests: a client that dies holding the block service's transaction, or as
//! its delegate, does not hold the service.
//!
//! - `arg=0` (holder that dies): begins, delegates the transaction to badge
//!   3, writes a marker into root slot 2, waits while the second client's
//!   `begin` queues behind it, then exits without committing.
//! - `arg=2` (holder that lives): the same, but it outlives its delegate;
//!   its next write names its transaction and is refused with the typed
//!   error saying the delegate's death aborted it.
//! - `arg=3` (delegate, badge 3): writes a marker into root slot 4 in the
//!   transaction it was delegated, then exits.
//! - `arg=1` (second, with the poweroff grant): calls `begin` while the
//!   holder's transaction is open; the service answers it once the holder
//!   or the delegate has died and the transaction is aborted. It checks that
//!   neither marker is visible, commits its own transaction, and reports.
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

fn holder(store: &mut BlockClient, survive: bool) -> Result<(), block::Error> {
    store.set_delegate(Some(3));
    store.begin()?;
    store.write(store.root_block(2), &vec![MARKER; BLOCK_SIZE])?;
    // The client gathers journaled writes until the commit: send this one
    // now, so the service holds written data when this client dies.
    store.send_gathered()?;
    let tx = store.transaction();
    if !survive {
        println!("blockdeath: holder: transaction {tx} open and written; exiting without commit");
        pause(60);
        return Ok(());
    }
    println!("blockdeath: holder: transaction {tx} open, delegated to client 3");
    pause(60);
    // The typed error, through the stub (the trait would say NoTransaction).
    match store
        .stub()
        .write(tx, store.root_block(2), &vec![MARKER; BLOCK_SIZE])
    {
        Err(e) => println!("blockdeath: holder: write after its delegate died: {e}"),
        Ok(_) => println!("blockdeath: holder: write after its delegate died: accepted (wrong)"),
    }
    Ok(())
}

fn delegate(store: &mut BlockClient) -> Result<(), block::Error> {
    pause(20);
    store.write(store.root_block(4), &vec![MARKER; BLOCK_SIZE])?;
    println!(
        "blockdeath: delegate: wrote in transaction {}; exiting",
        store.transaction()
    );
    Ok(())
}

/// True if root slot `slot` holds no marker byte.
fn unmarked(store: &mut BlockClient, slot: usize) -> Result<bool, block::Error> {
    let mut block = vec![0u8; BLOCK_SIZE];
    store.read(store.root_block(slot), &mut block)?;
    Ok(!block.contains(&MARKER))
}

fn second(store: &mut BlockClient) -> Result<bool, block::Error> {
    pause(10);
    println!("blockdeath: second: calling begin");
    store.begin()?;
    println!(
        "blockdeath: second: begin returned transaction {}",
        store.transaction()
    );
    let hidden = unmarked(store, 2)? && unmarked(store, 4)?;
    println!("blockdeath: second: nothing of the aborted transaction is visible: {hidden}");
    store.write(store.root_block(3), &vec![0x5A; BLOCK_SIZE])?;
    store.commit(Durability::Durable)?;
    let mut block = vec![0u8; BLOCK_SIZE];
    store.read(store.root_block(3), &mut block)?;
    let committed = block.iter().all(|&b| b == 0x5A);
    println!("blockdeath: second: own transaction committed: {committed}");
    // A surviving holder makes its last call meanwhile.
    pause(80);
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
    let role = userlib::boot_arg();
    if role != 1 {
        let done = match role {
            3 => delegate(&mut store),
            r => holder(&mut store, r == 2),
        };
        if let Err(e) = done {
            println!("blockdeath: role {role}: {e}");
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
