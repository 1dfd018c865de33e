//! The wall-clock time at boot, read once from the CMOS RTC before any
//! process runs (so no process shares the RTC's index port with the
//! kernel: the network service later owns it as its timer). `TICKS`
//! returns it, and user space adds the ticks since boot.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel_logic::rtc::{unix_seconds, RtcRegisters};
use x86_64::instructions::port::Port;

/// Seconds since the epoch at boot; 0 when the RTC gave no valid date.
static BOOT_UNIX: AtomicU64 = AtomicU64::new(0);

fn read(reg: u8) -> u8 {
    // Safety: the CMOS index (0x70) and data (0x71) ports; bit 7 of the
    // index (NMI disable) is left clear. Only the kernel touches them
    // before user space starts.
    unsafe {
        Port::<u8>::new(0x70).write(reg);
        Port::<u8>::new(0x71).read()
    }
}

fn sample() -> RtcRegisters {
    // Wait out an update in progress (status A bit 7), as the RTC's
    // registers are inconsistent during one.
    for _ in 0..100_000 {
        if read(0x0A) & 0x80 == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    RtcRegisters {
        second: read(0x00),
        minute: read(0x02),
        hour: read(0x04),
        day: read(0x07),
        month: read(0x08),
        year: read(0x09),
        status_b: read(0x0B),
    }
}

/// Reads the date (twice, until two reads agree) and keeps it.
pub fn init() {
    let mut last = sample();
    for _ in 0..4 {
        let next = sample();
        if next == last {
            break;
        }
        last = next;
    }
    match unix_seconds(&last) {
        Some(t) => {
            BOOT_UNIX.store(t, Ordering::Relaxed);
            log::info!("rtc: {t} seconds since the epoch at boot");
        }
        None => log::warn!("rtc: no valid date ({last:?}); wall-clock time unknown"),
    }
}

pub fn boot_unix() -> u64 {
    BOOT_UNIX.load(Ordering::Relaxed)
}
