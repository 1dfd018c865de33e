//! Capability transfer, client side. Slot 0 = broker (badge 5), slot 1 =
//! judge. Receives an echo capability and a session endpoint from the
//! broker, sends it a notification capability, and checks each works; then
//! has the broker keep notification capabilities past the reply (`CAP_KEEP`)
//! up to its per-client share and use them later.
#![no_std]
#![no_main]

use testsvc::{report, BrokerRequest, EchoRequest};
use userlib::abi::{mint_kind, NO_CAP};
use userlib::ipc::{recv, Endpoint, Incoming};
use userlib::{println, sys};

userlib::entry!(main);

const SIGNAL_BIT: u64 = 1 << 5;

fn main() {
    let (broker, judge) = (Endpoint(0), Endpoint(1));
    // 1. A capability received in a reply works like one from the boot config.
    let echo = broker.call(&BrokerRequest::GetEcho {}, &[]).map(|r| r.cap);
    let ping = match echo {
        Ok(slot) if slot != NO_CAP => Endpoint(slot)
            .call(&EchoRequest::Ping { value: 9 }, &[])
            .map(|r| r.words[0]),
        other => Err(userlib::ipc::CallError::Service(other.map_or(0, |s| s))),
    };
    // 2. Badges: our boot capability says 5; a minted session says 77.
    let boot_badge = broker
        .call(&BrokerRequest::WhoAmI {}, &[])
        .map(|r| r.words[0]);
    let session = broker.call(&BrokerRequest::Session {}, &[]).map(|r| r.cap);
    let session_badge = match session {
        Ok(slot) if slot != NO_CAP => Endpoint(slot)
            .call(&BrokerRequest::WhoAmI {}, &[])
            .map(|r| r.words[0]),
        _ => Ok(0),
    };
    // 3. A notification capability sent in a call: the broker signals us.
    let signalled = match sys::cap_mint(mint_kind::NOTIFICATION, SIGNAL_BIT) {
        Ok(slot) => {
            let mut m = userlib::abi::proto::Wire::to_message(&BrokerRequest::Signal {});
            m.cap = slot;
            let sent = broker.call_message(&mut m, &[]).is_ok();
            sent && matches!(recv(SIGNAL_BIT), Ok(Incoming::Notification(b)) if b == SIGNAL_BIT)
        }
        Err(_) => false,
    };
    println!(
        "capclient: echo via transferred cap {:?}, boot badge {:?}, session badge {:?}, signalled {}",
        ping, boot_badge, session_badge, signalled
    );
    // 4. Kept capabilities: the broker keeps 8 (its share for us), the 9th
    //    is refused; after the replies it can still signal with the kept ones.
    let keep_bit = SIGNAL_BIT << 1;
    let mut kept = 0;
    let mut refused = 0;
    if let Ok(slot) = sys::cap_mint(mint_kind::NOTIFICATION, keep_bit) {
        for _ in 0..9 {
            let mut m = userlib::abi::proto::Wire::to_message(&BrokerRequest::Remember {});
            m.cap = slot;
            match broker.call_message(&mut m, &[]) {
                Ok(_) => kept += 1,
                Err(_) => refused += 1,
            }
        }
    }
    let poked = broker
        .call(&BrokerRequest::Poke {}, &[])
        .map(|r| r.words[0]);
    let woken = matches!(recv(keep_bit), Ok(Incoming::Notification(b)) if b == keep_bit);
    println!(
        "capclient: broker kept {kept} capabilities, {refused} refused; used them after the replies: {poked:?}, notified {woken}"
    );
    let keep_ok = kept == 8 && refused == 1 && poked == Ok(8) && woken;
    let pass =
        ping == Ok(10) && boot_badge == Ok(5) && session_badge == Ok(77) && signalled && keep_ok;
    report(judge, "capclient", pass, 0, 1);
}
