//! 1 MiB through leases: echo checksums a read lease of ours, then fills a
//! write lease of ours; both are verified here. Slot 0 = echo, 1 = judge.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use testsvc::{fnv1a, pattern_byte, report, EchoRequest, Rng, FNV_START};
use userlib::ipc::{lend, lend_mut, Endpoint};
use userlib::println;

userlib::entry!(main);

const SIZE: usize = 1 << 20;

fn main() {
    let (echo, judge) = (Endpoint(0), Endpoint(1));
    let mut data = vec![0u8; SIZE];
    let mut rng = Rng(0x5eed_0001);
    for chunk in data.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let want = fnv1a(FNV_START, &data);
    let sent_ok = match echo.call(&EchoRequest::Checksum {}, &[lend(&data)]) {
        Ok(r) => {
            println!(
                "bulk: server read {} bytes, checksum {:#x} (ours {:#x})",
                r.words[0], r.words[1], want
            );
            r.words[0] == SIZE as u64 && r.words[1] == want
        }
        Err(e) => {
            println!("bulk: checksum call failed: {:?}", e);
            false
        }
    };

    let mut back = vec![0u8; SIZE];
    let seed = 0xfeed;
    let filled_ok = match echo.call(&EchoRequest::Fill { seed }, &[lend_mut(&mut back)]) {
        Ok(r) => {
            let bad = (0..SIZE)
                .filter(|&i| back[i] != pattern_byte(seed, i as u64))
                .count();
            println!(
                "bulk: server wrote {} bytes into our lease, {} wrong",
                r.words[0], bad
            );
            r.words[0] == SIZE as u64 && bad == 0
        }
        Err(e) => {
            println!("bulk: fill call failed: {:?}", e);
            false
        }
    };
    // A read-only lease must not be writable by the server.
    let refused = matches!(
        echo.call(&EchoRequest::Fill { seed }, &[lend(&back)]),
        Err(userlib::ipc::CallError::Service(code)) if code == userlib::Error::BadLease as u64
    );
    println!("bulk: write into a read-only lease refused: {}", refused);
    report(
        judge,
        "bulk",
        sent_ok && filled_ok && refused,
        SIZE as u64,
        1,
    );
}
