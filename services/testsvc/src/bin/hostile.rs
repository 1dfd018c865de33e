//! A hostile client: tries each way one process could hurt the others
//! through the kernel, checks that each is refused or bounded, and reports.
//! A well-behaved client (pingpong) uses the same server meanwhile and must
//! keep its service; the kernel must not panic. Slot 0 = echo, slot 1 =
//! judge; the boot configuration grants `dma`, `mem=4` and the HPET page.
//!
//! 1. One huge `CONSOLE_WRITE`: at most `CONSOLE_WRITE_MAX` bytes go out.
//! 2. `DMA_ALLOC` (and `MEM_ALLOC`) until refused: never beyond `mem=`.
//! 3. 200 calls carrying a capability to a server that keeps none: its
//!    table never fills (the kernel drops each at the reply).
//! 4. The kernel's text (and its direct-map alias) as a syscall buffer the
//!    kernel would write: refused.
//! 5. `MMIO_MAP` of its one granted page (the HPET) again and again: each
//!    mapping costs the kernel page tables, so it stops at `MMIO_MAP_MAX`.
#![no_std]
#![no_main]

extern crate alloc;

use testsvc::{report, EchoRequest};
use userlib::abi::proto::Wire;
use userlib::abi::{sys as nr, Message, CONSOLE_WRITE_MAX};
use userlib::{println, sys, Error};

userlib::entry!(main);

/// The verdicts the judge waits for (this one and pingpong's).
const VERDICTS: u64 = 2;
const MEM_LIMIT: u64 = 4 << 20;
/// Kernel text (the image starts at physical 1 MiB + the boot trampoline)
/// and the same frames through the direct map.
const KERNEL_TEXT: u64 = 0xFFFF_FFFF_8010_8000;
const DIRECT_MAP_TEXT: u64 = 0xFFFF_8000_0010_8000;
const CAP_CALLS: u64 = 200;
const HPET: u64 = 0xFED0_0000;
/// `kernel_logic::budget::MMIO_MAP_MAX` in pages.
const MMIO_MAX_PAGES: u64 = (64 << 20) / 4096;

fn raw(n: u64, args: [u64; 6]) -> Result<[u64; 4], Error> {
    sys::call_raw(n, args)
}

fn huge_console_write() -> bool {
    let text = alloc::vec![b'#'; 64 << 10];
    let r = raw(
        nr::CONSOLE_WRITE,
        [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0],
    );
    println!();
    let printed = r.map(|r| r[0]);
    println!(
        "hostile: console write of {} bytes printed {:?} (cap {})",
        text.len(),
        printed,
        CONSOLE_WRITE_MAX
    );
    printed == Ok(CONSOLE_WRITE_MAX)
}

fn exhaust_memory() -> bool {
    let mut dma = 0u64;
    let refused = loop {
        match raw(nr::DMA_ALLOC, [64 << 10, 0, 0, 0, 0, 0]) {
            Ok(r) => dma += r[2],
            Err(e) => break e,
        }
        if dma > 2 * MEM_LIMIT {
            break Error::BadArgument; // unbounded: fail below
        }
    };
    let huge_dma = raw(nr::DMA_ALLOC, [1 << 40, 0, 0, 0, 0, 0]).map(|_| ());
    let huge_mem = raw(nr::MEM_ALLOC, [1 << 40, 0, 0, 0, 0, 0]).map(|_| ());
    println!(
        "hostile: DMA_ALLOC gave {} KiB, then {:?} (mem= {} KiB); 1 TiB DMA {:?}, 1 TiB heap {:?}",
        dma >> 10,
        refused,
        MEM_LIMIT >> 10,
        huge_dma,
        huge_mem
    );
    dma <= MEM_LIMIT
        && refused == Error::NoMemory
        && huge_dma == Err(Error::NoMemory)
        && huge_mem == Err(Error::NoMemory)
}

fn flood_caps() -> bool {
    let mut refused = 0;
    for i in 0..CAP_CALLS {
        let mut m = EchoRequest::Ping { value: i }.to_message();
        m.cap = 1; // the judge's endpoint: any capability will do
        let mut reply = Message::default();
        if sys::call(0, &m, &mut reply).is_err() {
            refused += 1;
        }
    }
    println!(
        "hostile: {} calls carrying a capability, {} refused",
        CAP_CALLS, refused
    );
    refused == 0
}

fn kernel_text_as_buffer() -> bool {
    let ping = EchoRequest::Ping { value: 1 }.to_message();
    let ping_ptr = &ping as *const Message as u64;
    let mut wrong = 0;
    for target in [KERNEL_TEXT, DIRECT_MAP_TEXT] {
        // The kernel would write the reply there, or a received message.
        let cases = [
            raw(nr::CALL, [0, ping_ptr, target, 0, 0, 0]),
            raw(nr::RECV, [target, 0, 1, 0, 0, 0]),
        ];
        for r in cases {
            if r.map(|_| ()) != Err(Error::BadAddress) {
                wrong += 1;
            }
        }
    }
    println!("hostile: kernel text as a syscall buffer: 4 cases, {wrong} not refused");
    wrong == 0
}

fn map_device_forever() -> bool {
    let mut maps = 0u64;
    let refused = loop {
        match raw(nr::MMIO_MAP, [HPET, 4096, 0, 0, 0, 0]) {
            Ok(_) => maps += 1,
            Err(e) => break e,
        }
        if maps > 2 * MMIO_MAX_PAGES {
            break Error::BadArgument; // unbounded: fail below
        }
    };
    println!("hostile: MMIO_MAP of one page {maps} times, then {refused:?}");
    maps == MMIO_MAX_PAGES && refused == Error::NoMemory
}

fn main() {
    let judge = userlib::ipc::Endpoint(1);
    let console = huge_console_write();
    let memory = exhaust_memory();
    let caps = flood_caps();
    let text = kernel_text_as_buffer();
    let mmio = map_device_forever();
    // Still served afterwards.
    let after = userlib::ipc::Endpoint(0)
        .call(&EchoRequest::Ping { value: 41 }, &[])
        .map(|r| r.words[0]);
    println!("hostile: echo after all that: {:?}", after);
    let pass = console && memory && caps && text && mmio && after == Ok(42);
    let code = u64::from(console)
        | u64::from(memory) << 1
        | u64::from(caps) << 2
        | u64::from(text) << 3
        | u64::from(mmio) << 4;
    report(judge, "hostile", pass, code, VERDICTS);
}
