//! Two clients of the block service at once (slot 0 = the block service),
//! proving that a second `Begin` waits for the first transaction to end.
//! `arg=0` (first): begins, holds the transaction open for a while, writes a
//! marker into root slot 2 and commits. `arg=1` (second, with the poweroff
//! grant): waits until the first has begun, calls `Begin` (the service
//! defers the answer), and once it returns checks that the first's commit
//! is already visible; then it writes its own transaction and reports.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use block::{Durability, Transactional, BLOCK_SIZE};
use block_api::client::BlockClient;
use userlib::abi::{POWEROFF_TEST_FAIL, POWEROFF_TEST_PASS};
use userlib::{println, sys};

userlib::entry!(main);

const MARKER: u8 = 0xA5;

/// Lets the other processes run for `ticks` timer ticks.
fn pause(ticks: u64) {
    let (start, _) = sys::ticks();
    while sys::ticks().0 < start + ticks {
        sys::yield_now();
    }
}

fn first(store: &mut BlockClient) -> Result<(), block::Error> {
    store.begin()?;
    println!("blockclient: first: transaction open");
    pause(100);
    let slot = store.root_block(2);
    store.write(slot, &vec![MARKER; BLOCK_SIZE])?;
    println!("blockclient: first: committing");
    store.commit(Durability::Durable)
}

fn second(store: &mut BlockClient) -> Result<bool, block::Error> {
    pause(30);
    println!("blockclient: second: calling begin");
    store.begin()?;
    let mut block = vec![0u8; BLOCK_SIZE];
    store.read(store.root_block(2), &mut block)?;
    let saw_commit = block.iter().all(|&b| b == MARKER);
    store.write(store.root_block(3), &vec![0x5A; BLOCK_SIZE])?;
    store.commit(Durability::Durable)?;
    Ok(saw_commit)
}

fn main() {
    let mut store = match BlockClient::connect(0) {
        Ok(s) => s,
        Err(e) => {
            println!("blockclient: cannot connect: {e}");
            sys::poweroff(POWEROFF_TEST_FAIL);
            return;
        }
    };
    if userlib::boot_arg() == 0 {
        if let Err(e) = first(&mut store) {
            println!("blockclient: first: {e}");
        }
        return;
    }
    let verdict = match second(&mut store) {
        Ok(saw) => {
            println!("blockclient: second: begin returned after the first's commit: {saw}");
            saw
        }
        Err(e) => {
            println!("blockclient: second: {e}");
            false
        }
    };
    let mut text = vec![0u8; 4096];
    if let Ok(n) = store.report(block_api::report::STATS, &mut text) {
        for line in core::str::from_utf8(&text[..n]).unwrap_or("").lines() {
            if line.starts_with("service") {
                println!("blockclient: {line}");
            }
        }
    }
    sys::poweroff(if verdict {
        POWEROFF_TEST_PASS
    } else {
        POWEROFF_TEST_FAIL
    });
}
