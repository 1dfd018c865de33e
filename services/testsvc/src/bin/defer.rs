//! A server that defers replies: it collects `HOLD` calls before answering
//! any, then answers them newest first (each with its own badge), so the
//! kernel must keep several callers blocked and accept replies out of order.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use userlib::ipc::{recv, Incoming, ReplyToken};
use userlib::println;

userlib::entry!(main);

const HOLD: usize = 2;

fn main() {
    println!("defer: running");
    loop {
        let mut held: Vec<(u64, ReplyToken, u64)> = Vec::new();
        while held.len() < HOLD {
            if let Ok(Incoming::Call { badge, token, msg }) = recv(0) {
                println!("defer: holding call from badge {}", badge);
                held.push((badge, token, msg.words[0]));
            }
        }
        while let Some((badge, token, value)) = held.pop() {
            println!("defer: replying to badge {}", badge);
            let _ = token.reply_ok(&[value + 1, badge]);
        }
    }
}
