//! The supervisor: restarts the processes it watches when they die, like
//! MINIX 3's reincarnation server.
//!
//! Design principles:
//! - The boot configuration says what it watches (`supervise=<proc>` on its
//!   line, repeatable); the kernel tells it of each watched death
//!   (`DEATH_NEXT`, kind `WATCHED`) and lets it, and only it, `RESTART`
//!   that slot: the same image, capabilities, grants and `mem=`. Nothing
//!   else is its business: it holds no capabilities and serves no calls.
//! - Clients need no help: their capabilities name the slot, so their next
//!   call reaches the new incarnation (kernel/SYSCALLS.md, "Death and
//!   restart").
//! - A process that keeps dying is not restarted forever: at most
//!   `MAX_RESTARTS` times, then it is left dead with a log line (a crash
//!   loop would otherwise take the machine's time).
//! - `arg=n` (tests only; 0 at boot): wait n timer ticks before watching, so
//!   a watched process can die first. Its notice waits in the kernel's
//!   queue and `DEATH_WATCH` posts it at once (the `restart-late` test).
#![no_std]
#![no_main]

use userlib::abi::{death_kind, recv_flags, Message};
use userlib::{println, sys, Error};

userlib::entry!(main);

const DEATH_BIT: u64 = 1;
/// Restarts per watched slot before giving up on it.
const MAX_RESTARTS: u64 = 5;
/// Slots are below `MAX_PROCS` (32).
const SLOTS: usize = 32;

fn main() {
    let start_after = sys::ticks().0 + userlib::boot_arg();
    while sys::ticks().0 < start_after {
        sys::yield_now();
    }
    if let Err(e) = sys::death_watch(DEATH_BIT) {
        println!("supervisor: DEATH_WATCH refused: {e:?}");
        return;
    }
    println!("supervisor: watching");
    let mut restarts = [0u64; SLOTS];
    let mut buf = Message::default();
    loop {
        if let Err(e) = sys::recv(&mut buf, DEATH_BIT, recv_flags::NOTIFICATIONS_ONLY) {
            println!("supervisor: recv failed: {e:?}");
            continue;
        }
        loop {
            let notice = match sys::death_next() {
                Ok(n) => n,
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    println!("supervisor: DEATH_NEXT failed: {e:?}");
                    break;
                }
            };
            if notice.lost != 0 {
                println!("supervisor: {} death notices lost", notice.lost);
            }
            if notice.kind != death_kind::WATCHED {
                continue;
            }
            let slot = notice.value;
            let Some(count) = restarts.get_mut(slot as usize) else {
                continue;
            };
            if *count >= MAX_RESTARTS {
                println!("supervisor: slot {slot} died again after {MAX_RESTARTS} restarts; leaving it dead");
                continue;
            }
            *count += 1;
            let t0 = sys::rdtsc();
            match sys::restart(slot) {
                Ok(incarnation) => println!(
                    "supervisor: restarted slot {slot} (incarnation {incarnation}) in {} cycles",
                    sys::rdtsc() - t0
                ),
                Err(e) => println!("supervisor: restarting slot {slot} failed: {e:?}"),
            }
        }
    }
}
