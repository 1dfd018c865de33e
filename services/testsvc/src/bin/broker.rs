//! Capability transfer, server side. Slot 0 = echo. Answers:
//! - `GetEcho`: replies with a copy of its echo capability;
//! - `Session`: mints an endpoint to itself with badge `SESSION_BADGE` and
//!   replies with it;
//! - `WhoAmI`: replies with the badge the call arrived with;
//! - `Signal`: the call carries a notification capability; the broker
//!   notifies it, then replies (the kernel drops it at the reply);
//! - `Remember`: keeps the call's notification capability (`CAP_KEEP`;
//!   error 2 when the kernel refuses: 8 per client at most);
//! - `Poke`: notifies every kept capability, drops them, replies how many.
#![no_std]
#![no_main]

extern crate alloc;

use testsvc::BrokerRequest;
use userlib::abi::{Message, NO_CAP};
use userlib::ipc::{mint_endpoint, recv, Incoming};
use userlib::{println, sys};

userlib::entry!(main);

pub const SESSION_BADGE: u64 = 77;

fn main() {
    println!("broker: running");
    let mut kept = alloc::vec::Vec::new();
    loop {
        let Ok(Incoming::Call { badge, token, msg }) = recv(0) else {
            continue;
        };
        let result = match Incoming::decode::<BrokerRequest>(&msg) {
            Ok(BrokerRequest::GetEcho {}) => {
                let mut reply = Message::new(0, &[]);
                reply.cap = 0;
                token.reply_message(&reply)
            }
            Ok(BrokerRequest::Session {}) => match mint_endpoint(SESSION_BADGE) {
                Ok(ep) => {
                    let mut reply = Message::new(0, &[]);
                    reply.cap = ep.0;
                    let sent = token.reply_message(&reply);
                    // The client has its copy; ours is not needed.
                    let _ = sys::cap_drop(ep.0);
                    sent
                }
                Err(e) => token.reply_err(e as u64),
            },
            Ok(BrokerRequest::WhoAmI {}) => token.reply_ok(&[badge]),
            Ok(BrokerRequest::Signal {}) if msg.cap != NO_CAP => {
                // The capability is ours until the reply (the kernel drops
                // it then), so it is used first.
                let _ = sys::notify(msg.cap);
                token.reply_ok(&[])
            }
            Ok(BrokerRequest::Remember {}) if msg.cap != NO_CAP => match sys::cap_keep(msg.cap) {
                Ok(()) => {
                    kept.push(msg.cap);
                    token.reply_ok(&[])
                }
                Err(_) => token.reply_err(2),
            },
            Ok(BrokerRequest::Poke {}) => {
                let n = kept.len() as u64;
                for slot in kept.drain(..) {
                    let _ = sys::notify(slot);
                    let _ = sys::cap_drop(slot);
                }
                token.reply_ok(&[n])
            }
            _ => token.reply_err(1),
        };
        if let Err(e) = result {
            println!("broker: reply failed: {:?}", e);
        }
    }
}
