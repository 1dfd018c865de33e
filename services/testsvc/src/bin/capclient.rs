//! Capability transfer, client side. Slot 0 = broker (badge 5), slot 1 =
//! judge. Receives an echo capability and a session endpoint from the
//! broker, sends it a notification capability, and checks each works.
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
    let pass = ping == Ok(10) && boot_badge == Ok(5) && session_badge == Ok(77) && signalled;
    report(judge, "capclient", pass, 0, 1);
}
