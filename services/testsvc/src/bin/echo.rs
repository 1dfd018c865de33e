//! The test server: ping, checksum of a read lease, fill of a write lease,
//! crash on request, null replies for the benchmark.
#![no_std]
#![no_main]

use testsvc::{fnv1a, pattern_byte, EchoRequest, FNV_START};
use userlib::ipc::{recv, reply_recv, Incoming, ReplyToken};
use userlib::println;

userlib::entry!(main);

fn checksum(token: &ReplyToken) -> Result<(u64, u64), userlib::Error> {
    let mut buf = [0u8; 4096];
    let (mut off, mut sum) = (0u64, FNV_START);
    loop {
        let n = token.lease_read(0, off, &mut buf)?;
        if n == 0 {
            return Ok((off, sum));
        }
        sum = fnv1a(sum, &buf[..n]);
        off += n as u64;
    }
}

fn drain(token: &ReplyToken) -> Result<u64, userlib::Error> {
    let mut buf = [0u8; 4096];
    let mut off = 0u64;
    loop {
        let n = token.lease_read(0, off, &mut buf)?;
        if n == 0 {
            return Ok(off);
        }
        off += n as u64;
    }
}

fn fill(token: &ReplyToken, seed: u64) -> Result<u64, userlib::Error> {
    let mut buf = [0u8; 4096];
    let mut off = 0u64;
    loop {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = pattern_byte(seed, off + i as u64);
        }
        let n = token.lease_write(0, off, &buf)?;
        if n == 0 {
            return Ok(off);
        }
        off += n as u64;
    }
}

fn main() {
    println!("echo: running");
    let mut next = recv(0);
    loop {
        let incoming = match next {
            Ok(i) => i,
            Err(e) => {
                println!("echo: recv failed: {:?}", e);
                next = recv(0);
                continue;
            }
        };
        let Incoming::Call { token, msg, .. } = incoming else {
            next = recv(0);
            continue;
        };
        let words: [u64; 2] = match Incoming::decode::<EchoRequest>(&msg) {
            Ok(EchoRequest::Ping { value }) => [value.wrapping_add(1), 0],
            Ok(EchoRequest::Null {}) => [0, 0],
            Ok(EchoRequest::Drain {}) => match drain(&token) {
                Ok(len) => [len, 0],
                Err(e) => {
                    let _ = token.reply_err(e as u64);
                    next = recv(0);
                    continue;
                }
            },
            Ok(EchoRequest::Checksum {}) => match checksum(&token) {
                Ok((len, sum)) => [len, sum],
                Err(e) => {
                    let _ = token.reply_err(e as u64);
                    next = recv(0);
                    continue;
                }
            },
            Ok(EchoRequest::Fill { seed }) => match fill(&token, seed) {
                Ok(len) => [len, 0],
                Err(e) => {
                    let _ = token.reply_err(e as u64);
                    next = recv(0);
                    continue;
                }
            },
            Ok(EchoRequest::Crash {}) => {
                println!("echo: crashing on request (write to address 0x8)");
                // Safety: deliberately invalid; the kernel ends this process.
                unsafe { core::ptr::write_volatile(core::ptr::dangling_mut::<u64>(), 1) };
                [0, 0]
            }
            Err(_) => {
                let _ = token.reply_err(0xBAD);
                next = recv(0);
                continue;
            }
        };
        next = reply_recv(token, &words, 0);
    }
}
