//! The smallest service, as shown in the kernel's README section: a protocol
//! declared once, an entry point, a receive loop. The boot test pings it.
#![no_std]
#![no_main]

userlib::abi::protocol! {
    pub enum Request {
        Ping = 1 { value: u64 },
    }
}

userlib::entry!(main);

fn main() {
    loop {
        if let Ok(userlib::ipc::Incoming::Call { token, msg, .. }) = userlib::ipc::recv(0) {
            match userlib::ipc::Incoming::decode::<Request>(&msg) {
                Ok(Request::Ping { value }) => {
                    let _ = token.reply_ok(&[value + 1]);
                }
                Err(_) => {
                    let _ = token.reply_err(1);
                }
            }
        }
    }
}
