//! User-pointer validation: every syscall that takes a pointer gets kernel
//! addresses, unmapped and read-only memory, wrapping and oversized lengths,
//! and must answer each with an error (and then still work normally).
//! Then the CPU accounts (`CPU_TIMES`, `CPU_TIME`) must read right.
//! Slot 0 = echo, slot 1 = judge.
#![no_std]
#![no_main]

extern crate alloc;

use testsvc::{report, EchoRequest};
use userlib::abi::proto::Wire;
use userlib::abi::{sys as nr, CpuTime, Lease, Message};
use userlib::{println, sys, Error};

userlib::entry!(main);

const KERNEL: u64 = 0xFFFF_FFFF_8010_0000;
const UNMAPPED: u64 = 0x0000_5000_0000_0000;
const USER_END: u64 = 0x0000_8000_0000_0000;

fn raw(n: u64, args: [u64; 6]) -> Result<[u64; 4], Error> {
    sys::call_raw(n, args)
}

fn main() {
    let judge = userlib::ipc::Endpoint(1);
    let code = main as *const () as u64; // mapped, read-only
    let ping = EchoRequest::Ping { value: 1 }.to_message();
    let ping_ptr = &ping as *const Message as u64;
    let mut reply = Message::default();
    let reply_ptr = &mut reply as *mut Message as u64;
    let with_lease = |l: Lease| {
        let mut m = EchoRequest::Checksum {}.to_message();
        m.leases[0] = l;
        let mut r = Message::default();
        sys::call(0, &m, &mut r)
    };
    let cases: [(&str, Result<(), Error>, Error); 25] = [
        (
            "write from kernel",
            raw(nr::CONSOLE_WRITE, [KERNEL, 8, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "write from null",
            raw(nr::CONSOLE_WRITE, [0, 8, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "write from unmapped",
            raw(nr::CONSOLE_WRITE, [UNMAPPED, 8, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "write wrapping length",
            raw(nr::CONSOLE_WRITE, [code, u64::MAX, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "write across user end",
            raw(nr::CONSOLE_WRITE, [USER_END - 4, 8, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "call msg in kernel",
            raw(nr::CALL, [0, KERNEL, reply_ptr, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "call msg unmapped",
            raw(nr::CALL, [0, UNMAPPED, reply_ptr, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "call reply read-only",
            raw(nr::CALL, [0, ping_ptr, code, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "call reply in kernel",
            raw(nr::CALL, [0, ping_ptr, KERNEL, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "lease in kernel",
            with_lease(Lease {
                addr: KERNEL,
                len: 4096,
                flags: 1,
            }),
            Error::BadAddress,
        ),
        (
            "write lease on code",
            with_lease(Lease {
                addr: code,
                len: 16,
                flags: 3,
            }),
            Error::BadAddress,
        ),
        (
            "lease wrapping",
            with_lease(Lease {
                addr: code,
                len: u64::MAX - 8,
                flags: 1,
            }),
            Error::BadAddress,
        ),
        (
            "lease bad flags",
            with_lease(Lease {
                addr: code,
                len: 16,
                flags: 8,
            }),
            Error::BadLease,
        ),
        (
            "recv into code",
            raw(nr::RECV, [code, 0, 1, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "recv bad flags",
            raw(nr::RECV, [reply_ptr, 0, 0x80, 0, 0, 0]).map(|_| ()),
            Error::BadArgument,
        ),
        (
            "reply msg in kernel",
            raw(nr::REPLY, [0, KERNEL, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "lease read into kernel",
            raw(nr::LEASE_READ, [0, 0, 0, KERNEL, 8, 0]).map(|_| ()),
            Error::BadToken,
        ),
        (
            "mem_alloc zero",
            raw(nr::MEM_ALLOC, [0; 6]).map(|_| ()),
            Error::BadArgument,
        ),
        (
            "mem_alloc wrapping",
            raw(nr::MEM_ALLOC, [u64::MAX, 0, 0, 0, 0, 0]).map(|_| ()),
            Error::BadArgument,
        ),
        (
            "mem_alloc over limit",
            raw(nr::MEM_ALLOC, [1 << 40, 0, 0, 0, 0, 0]).map(|_| ()),
            Error::NoMemory,
        ),
        (
            "cpu times into kernel",
            raw(nr::CPU_TIMES, [KERNEL, 4, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "cpu times into code",
            raw(nr::CPU_TIMES, [code, 4, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "cpu times unmapped",
            raw(nr::CPU_TIMES, [UNMAPPED, 4, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "cpu times wrapping count",
            raw(nr::CPU_TIMES, [reply_ptr, u64::MAX / 8, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
        (
            "cpu times across user end",
            raw(nr::CPU_TIMES, [USER_END - 40, 2, 0, 0, 0, 0]).map(|_| ()),
            Error::BadAddress,
        ),
    ];
    let mut wrong = 0;
    for (what, got, want) in &cases {
        if *got != Err(*want) {
            println!("badptr: {}: got {:?}, want {:?}", what, got, want);
            wrong += 1;
        }
    }
    // Still fully working afterwards.
    let after = sys::call(0, &ping, &mut reply).map(|_| reply.words[0]);
    println!(
        "badptr: {} cases, {} wrong; a normal call afterwards: {:?}",
        cases.len(),
        wrong,
        after
    );
    let cpu = cpu_times_answer();
    report(
        judge,
        "badptr",
        wrong == 0 && after == Ok(2) && cpu,
        wrong,
        1,
    );
}

/// The CPU accounts read right: one record asked for is one written (the
/// next stays untouched), names are the configuration's, a process's own
/// cycles grow while it works, and between two readings the accounts
/// grow by exactly the TSC cycles between them (nothing lost, nothing
/// counted twice).
fn cpu_times_answer() -> bool {
    let mut one = [CpuTime::default(); 2];
    one[1].cycles = 0x5EED;
    let r = raw(nr::CPU_TIMES, [one.as_mut_ptr() as u64, 1, 0, 0, 0, 0]);
    let first_only = r.is_ok() && one[0].name() == "judge" && one[1].cycles == 0x5EED;
    let none = raw(nr::CPU_TIMES, [0, 0, 0, 0, 0, 0]).map(|r| r[0]);
    let own0 = sys::cpu_time();
    let (Ok(a), Ok(b)) = (sys::CpuTimes::read(), {
        let mut x = 0u64;
        for i in 0..100_000u64 {
            x = core::hint::black_box(x.wrapping_add(i));
        }
        sys::CpuTimes::read()
    }) else {
        println!("badptr: CPU_TIMES failed");
        return false;
    };
    let own1 = sys::cpu_time();
    let names: alloc::vec::Vec<&str> = b.procs[..b.slots].iter().map(|p| p.name()).collect();
    let adds_up = b.total().wrapping_sub(a.total()) == b.tsc - a.tsc;
    let mine = b.procs[2].cycles - a.procs[2].cycles;
    println!(
        "badptr: cpu times: {:?} slots {:?}, count 1 wrote 1: {}, own cycles grew {}, accounts grew by the TSC: {} ({} of {} cycles ours)",
        none,
        names,
        first_only,
        own1 > own0,
        adds_up,
        mine,
        b.tsc - a.tsc
    );
    first_only && none == Ok(3) && names == ["judge", "echo", "badptr"] && own1 > own0 && adds_up
}
