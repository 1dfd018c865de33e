//! Calls through capabilities it does not hold: each must be refused with
//! an error. Slot 0 = judge (the only endpoint), slot 1 = a notification.
#![no_std]
#![no_main]

use testsvc::{report, EchoRequest};
use userlib::abi::{sys, Message, CAP_SLOTS};
use userlib::ipc::{CallError, Endpoint};
use userlib::{println, Error};

userlib::entry!(main);

fn main() {
    let judge = Endpoint(0);
    let ping = EchoRequest::Ping { value: 1 };
    let empty = Endpoint(5).call(&ping, &[]);
    let beyond = Endpoint(CAP_SLOTS as u64).call(&ping, &[]);
    let huge = Endpoint(u64::MAX).call(&ping, &[]);
    let wrong_kind = Endpoint(1).call(&ping, &[]);
    // Transfer a capability we do not have.
    let mut m = Message::new(1, &[1]);
    m.cap = 9;
    let transfer = judge.call_message(&mut m, &[]);
    let notify_empty = userlib::sys::notify(7);
    let poweroff = userlib::sys::poweroff(0);
    let bad_syscall = userlib::sys::call_raw(sys::COUNT + 100, [0; 6]);
    let no_dma = userlib::sys::virt_to_phys(main as *const () as u64);
    println!(
        "nocap: empty {:?}, beyond {:?}, huge {:?}, wrong kind {:?}, transfer {:?}, notify {:?}, poweroff {:?}, bad syscall {:?}",
        empty, beyond, huge, wrong_kind, transfer.map(|_| ()), notify_empty, poweroff, bad_syscall
    );
    let bad_cap = Err(CallError::Kernel(Error::BadCap));
    let pass = empty.map(|_| ()) == bad_cap
        && beyond.map(|_| ()) == bad_cap
        && huge.map(|_| ()) == bad_cap
        && wrong_kind.map(|_| ()) == bad_cap
        && transfer.map(|_| ()) == bad_cap
        && notify_empty == Err(Error::BadCap)
        && poweroff == Error::NotPermitted
        && bad_syscall == Err(Error::BadSyscall)
        && no_dma == Err(Error::NotPermitted);
    report(judge, "nocap", pass, 0, 1);
}
