//! What the kernel does to a dead driver's PCI devices: bus mastering and
//! INTx off for every function whose configuration page the driver was
//! granted, so the device starts no new DMA into memory that is no longer
//! the driver's and stops asserting its interrupt line.
//!
//! The kernel knows no device; it knows only the `mmio=` windows of the boot
//! configuration. Pages of those windows inside the ECAM region are PCI
//! functions (q35: ECAM at `0xB000_0000`, 256 MiB, inside the direct map of
//! the first 4 GiB).

use crate::memory;
use kernel_logic::grants::Grants;

const ECAM_BASE: u64 = 0xB000_0000;
const ECAM_LEN: u64 = 0x1000_0000;
const COMMAND: usize = 4;
const BUS_MASTER: u16 = 1 << 2;
const INTX_DISABLE: u16 = 1 << 10;

/// Turns off bus mastering and INTx of every present function in the ECAM
/// pages `grants` covers; returns how many functions it stopped.
pub fn quiesce_granted_functions(grants: &Grants) -> usize {
    let mut stopped = 0;
    for &(start, len) in &grants.mmio {
        let lo = start.max(ECAM_BASE);
        let hi = start.saturating_add(len).min(ECAM_BASE + ECAM_LEN);
        let mut page = lo & !0xFFF;
        while page < hi {
            let config = memory::phys_to_virt(page);
            // Safety: `page` is a 4 KiB ECAM configuration page below 4 GiB,
            // reached through the kernel's direct map; reading the vendor ID
            // and writing the command register have no other effect on
            // memory.
            unsafe {
                let id = core::ptr::read_volatile(config as *const u32);
                if id & 0xFFFF != 0xFFFF {
                    let command = config.add(COMMAND) as *mut u16;
                    let value = core::ptr::read_volatile(command);
                    core::ptr::write_volatile(command, (value & !BUS_MASTER) | INTX_DISABLE);
                    stopped += 1;
                }
            }
            page += 4096;
        }
    }
    stopped
}
