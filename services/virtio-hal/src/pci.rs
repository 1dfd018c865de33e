//! PCI configuration space through PCIe ECAM (q35: `0xB000_0000`), one
//! function's 4 KiB page at a time.
//!
//! The driver maps only the configuration pages the boot configuration
//! granted it (`mmio=` windows): a function whose page `MMIO_MAP` refuses
//! reads as absent (all ones), so enumeration finds exactly the devices this
//! driver was given, and never touches another device's registers.

use core::cell::RefCell;
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

/// Physical base of the ECAM window on QEMU's q35 machine.
pub const ECAM_BASE: u64 = 0xB000_0000;
/// Bus 0 only: q35 puts every device of our QEMU command lines there.
const FUNCTIONS: usize = 32 * 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Unknown,
    Denied,
    Mapped(u64),
}

/// `ConfigurationAccess` over the granted ECAM pages of bus 0.
pub struct GrantedEcam {
    pages: RefCell<[Page; FUNCTIONS]>,
}

impl GrantedEcam {
    pub fn new() -> Self {
        GrantedEcam {
            pages: RefCell::new([Page::Unknown; FUNCTIONS]),
        }
    }

    /// The mapped address of `df`'s configuration page, mapping it on first use.
    fn page(&self, df: DeviceFunction) -> Option<u64> {
        if df.bus != 0 || df.device >= 32 || df.function >= 8 {
            return None;
        }
        let index = df.device as usize * 8 + df.function as usize;
        let mut pages = self.pages.borrow_mut();
        match pages[index] {
            Page::Mapped(va) => Some(va),
            Page::Denied => None,
            Page::Unknown => {
                let phys = ECAM_BASE + ((df.device as u64) << 15) + ((df.function as u64) << 12);
                match userlib::sys::mmio_map(phys, 4096) {
                    Ok(va) => {
                        pages[index] = Page::Mapped(va);
                        Some(va)
                    }
                    Err(_) => {
                        pages[index] = Page::Denied;
                        None
                    }
                }
            }
        }
    }
}

impl Default for GrantedEcam {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigurationAccess for GrantedEcam {
    fn read_word(&self, df: DeviceFunction, register_offset: u8) -> u32 {
        match self.page(df) {
            // Safety: `va` maps the function's 4 KiB configuration page
            // uncached; the offset is below 256 and 4-byte aligned (masked).
            Some(va) => unsafe {
                core::ptr::read_volatile((va + (register_offset & 0xFC) as u64) as *const u32)
            },
            None => u32::MAX,
        }
    }

    fn write_word(&mut self, df: DeviceFunction, register_offset: u8, data: u32) {
        if let Some(va) = self.page(df) {
            // Safety: as in `read_word`.
            unsafe {
                core::ptr::write_volatile((va + (register_offset & 0xFC) as u64) as *mut u32, data)
            }
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        GrantedEcam {
            pages: RefCell::new(*self.pages.borrow()),
        }
    }
}
