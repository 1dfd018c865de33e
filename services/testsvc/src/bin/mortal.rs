//! A server that learns of its clients' deaths and can die itself: the
//! `death` and `restart` tests.
//!
//! - `arg=0` (`death` test): asks for death notices (`DEATH_WATCH`), serves
//!   pings, holds `Hold` calls unanswered, logs each badge the kernel says
//!   died, and once badges 7, 9 and 11 (its clients: one exits, one faults,
//!   one is killed by `KILL` while its call is held) were each named once,
//!   and the reply to the killed client's held call failed with `PeerDead`,
//!   reports to the judge (slot 0).
//! - `arg=n` (`restart` test): serves pings; in its first incarnation it
//!   dies (a panic) while holding its n-th call, so the caller gets
//!   `PeerDead`; the supervisor restarts it and later incarnations serve on.
#![no_std]
#![no_main]

use testsvc::{report, MortalRequest};
use userlib::abi::death_kind;
use userlib::ipc::{recv, Endpoint, Incoming, ReplyToken};
use userlib::{println, sys, Error};

userlib::entry!(main);

const DEATH_BIT: u64 = 1;

fn main() {
    let die_at = userlib::boot_arg();
    let (slot, incarnation) = sys::whoami();
    println!("mortal: slot {slot}, incarnation {incarnation}");
    if die_at == 0 {
        if let Err(e) = sys::death_watch(DEATH_BIT) {
            println!("mortal: DEATH_WATCH refused: {e:?}");
        }
    }
    let (mut calls, mut seen, mut other) = (0u64, [false; 3], 0u64);
    let mut held: Option<ReplyToken> = None;
    let mut held_reply = None;
    loop {
        match recv(DEATH_BIT) {
            Ok(Incoming::Notification(_)) => loop {
                match sys::death_next() {
                    Ok(n) if n.kind == death_kind::CLIENT => {
                        println!("mortal: told that client badge {} died", n.value);
                        match n.value {
                            7 if !seen[0] => seen[0] = true,
                            9 if !seen[1] => seen[1] = true,
                            11 if !seen[2] => {
                                seen[2] = true;
                                // Its call was open here: the reply must fail.
                                held_reply = held.take().map(|t| t.reply_ok(&[]));
                                println!("mortal: reply to its held call: {held_reply:?}");
                            }
                            _ => other += 1,
                        }
                    }
                    Ok(n) => {
                        println!("mortal: unexpected notice {n:?}");
                        other += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => {
                        println!("mortal: DEATH_NEXT failed: {e:?}");
                        other += 1;
                        break;
                    }
                }
                if seen == [true; 3] {
                    // Each death told once: nothing more may be waiting.
                    let rest = sys::death_next();
                    println!("mortal: all three clients' deaths told; then {rest:?}");
                    let pass = other == 0
                        && rest == Err(Error::WouldBlock)
                        && held_reply == Some(Err(Error::PeerDead));
                    report(Endpoint(0), "mortal", pass, other, 2);
                    seen = [false; 3];
                }
            },
            Ok(Incoming::Call { token, msg, .. }) => {
                calls += 1;
                if incarnation == 0 && die_at != 0 && calls == die_at {
                    panic!("fault injection: dying at call {calls}, reply not sent");
                }
                match Incoming::decode::<MortalRequest>(&msg) {
                    Ok(MortalRequest::Ping { value }) => {
                        let _ = token.reply_ok(&[value + 1, incarnation]);
                    }
                    Ok(MortalRequest::Hold {}) => {
                        println!("mortal: holding a call unanswered");
                        held = Some(token);
                    }
                    Err(_) => {
                        let _ = token.reply_err(1);
                    }
                }
            }
            Err(e) => println!("mortal: recv failed: {e:?}"),
        }
    }
}
