//! Driver rights end to end: maps the HPET's registers (MMIO) and reads its
//! vendor, allocates DMA memory, and takes RTC periodic interrupts (IRQ 8,
//! programmed through granted I/O ports) as notifications, waiting for them
//! with calls held back (drvclient's call queues meanwhile and is answered
//! after the fifth interrupt). Also checks that rights it was not given are
//! refused. Slot 0 = judge.
#![no_std]
#![no_main]

use testsvc::report;
use userlib::abi::{recv_flags, recv_kind, Message};
use userlib::ipc::{recv, Incoming};
use userlib::{println, sys, Error};

userlib::entry!(main);

const HPET: u64 = 0xFED0_0000;
const RTC_INDEX: u16 = 0x70;
const RTC_DATA: u16 = 0x71;
const IRQ_RTC: u64 = 8;
const RTC_BIT: u64 = 1 << 3;
const INTERRUPTS: u32 = 5;

fn rtc_read(reg: u64) -> Result<u64, Error> {
    sys::port_out(RTC_INDEX, 1, 0x80 | reg)?;
    sys::port_in(RTC_DATA, 1)
}

fn rtc_write(reg: u64, value: u64) -> Result<(), Error> {
    sys::port_out(RTC_INDEX, 1, 0x80 | reg)?;
    sys::port_out(RTC_DATA, 1, value)
}

fn mmio() -> Result<bool, Error> {
    let regs = sys::mmio_map(HPET, 0x400)?;
    // Safety: the kernel mapped the HPET's register page at `regs`.
    let cap = unsafe { core::ptr::read_volatile(regs as *const u64) };
    let vendor = (cap >> 16) & 0xFFFF;
    println!(
        "drvtest: HPET capabilities {:#x}, vendor {:#x}",
        cap, vendor
    );
    Ok(vendor == 0x8086)
}

fn dma() -> Result<bool, Error> {
    let (va, pa, size) = sys::dma_alloc(3 * 4096 + 1)?;
    // Safety: the kernel mapped `size` writable bytes at `va`.
    let mem = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, size as usize) };
    let zeroed = mem.iter().all(|&b| b == 0);
    mem.fill(0xA5);
    println!(
        "drvtest: DMA {} bytes at virtual {:#x}, physical {:#x}, zeroed {}",
        size, va, pa, zeroed
    );
    // Contiguous: the last byte's physical address follows from the first.
    let last = sys::virt_to_phys(va + size - 1)?;
    let stack_var = 0u64;
    let stack_phys = sys::virt_to_phys(&stack_var as *const u64 as u64)?;
    let kernel = sys::virt_to_phys(0xFFFF_8000_0000_0000);
    println!(
        "drvtest: last DMA byte at physical {:#x}, a stack page at {:#x}, kernel address {:?}",
        last, stack_phys, kernel
    );
    Ok(size == 4 * 4096
        && pa % 4096 == 0
        && pa != 0
        && zeroed
        && mem[size as usize - 1] == 0xA5
        && last == pa + size - 1
        && kernel == Err(Error::BadAddress))
}

fn interrupts() -> Result<u32, Error> {
    sys::irq_bind(IRQ_RTC, RTC_BIT)?;
    // Rate 10 = 64 Hz, then periodic interrupts on (register B bit 6).
    let a = rtc_read(0x0A)?;
    rtc_write(0x0A, (a & 0xF0) | 0x0A)?;
    let b = rtc_read(0x0B)?;
    rtc_write(0x0B, b | 0x40)?;
    rtc_read(0x0C)?;
    let mut seen = 0;
    let mut msg = Message::default();
    while seen < INTERRUPTS {
        // Notifications only: drvclient's call must stay queued meanwhile.
        let (kind, bits, _) = sys::recv(&mut msg, RTC_BIT, recv_flags::NOTIFICATIONS_ONLY)?;
        if kind != recv_kind::NOTIFICATION {
            println!("drvtest: a call arrived during a notifications-only wait");
            return Err(Error::BadArgument);
        }
        if bits & RTC_BIT != 0 {
            seen += 1;
            // Reading register C tells the RTC the interrupt was served.
            rtc_read(0x0C)?;
            sys::irq_ack(IRQ_RTC)?;
        }
    }
    rtc_write(0x0B, b & !0x40)?;
    Ok(seen)
}

fn main() {
    let judge = userlib::ipc::Endpoint(0);
    let mmio_ok = mmio();
    let dma_ok = dma();
    let irqs = interrupts();
    println!(
        "drvtest: mmio {:?}, dma {:?}, RTC interrupts received {:?}",
        mmio_ok, dma_ok, irqs
    );
    let refused = [
        sys::mmio_map(HPET + 0x1000, 8).err(),
        sys::mmio_map(0, 4096).err(),
        sys::irq_bind(9, 1).err(),
        sys::irq_bind(4, 1).err(),
        sys::irq_ack(3).err(),
        sys::port_in(0x3F8, 1).err(),
        sys::port_out(0x72, 1, 0).err(),
    ];
    let all_refused = refused.iter().all(|e| *e == Some(Error::NotPermitted));
    println!("drvtest: ungranted rights refused: {:?}", refused);
    // The call drvclient made while we waited: answer it now.
    let served = match recv(0) {
        Ok(Incoming::Call { token, .. }) => token
            .reply_ok(&[*irqs.as_ref().unwrap_or(&0) as u64])
            .is_ok(),
        _ => false,
    };
    let pass = mmio_ok == Ok(true)
        && dma_ok == Ok(true)
        && irqs == Ok(INTERRUPTS)
        && all_refused
        && served;
    report(judge, "drvtest", pass, 0, 2);
}
