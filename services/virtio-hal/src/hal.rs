//! virtio-drivers' `Hal` on the kernel's driver calls: `DMA_ALLOC` for rings
//! and buffers, `MMIO_MAP` for the BARs, and `share` that hands the device
//! physical addresses.
//!
//! `share` may be given any address (the crate passes stack values, heap
//! boxes such as indirect descriptor tables, and our own buffers). Memory
//! this process got from `DMA_ALLOC` is physically contiguous and is shared
//! in place (zero copy); anything else is copied through a bounce pool of
//! DMA memory and, for device-writable buffers, copied back in `unshare`.
//!
//! Zero-copy client data: virtio-drivers wants slices, but a client's pages
//! are not mapped here. The driver passes sub-slices of a slot's own DMA
//! buffer (real memory the device never touches) and registers a
//! *redirect* for each: `share` of exactly that slice returns the client's
//! physical address (from `LEASE_PHYS`) instead.
//!
//! # Invariants
//! - Every region in `Regions` is one `DMA_ALLOC` result: `len` bytes
//!   mapped at `virt`, physically contiguous from `phys`.
//! - A bounce slot is marked used from `share` to the matching `unshare`.

use core::ptr::NonNull;
use spin::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// Contiguous DMA regions of this process (the rings, the data slots, the
/// bounce pool).
const MAX_REGIONS: usize = 64;

#[derive(Clone, Copy)]
struct Region {
    virt: u64,
    phys: u64,
    len: u64,
}

struct Regions {
    list: [Region; MAX_REGIONS],
    count: usize,
}

static REGIONS: Mutex<Regions> = Mutex::new(Regions {
    list: [Region {
        virt: 0,
        phys: 0,
        len: 0,
    }; MAX_REGIONS],
    count: 0,
});

/// Bounce pool: `BOUNCE_SLOTS` slots of `BOUNCE_SLOT` bytes in one region.
const BOUNCE_SLOT: usize = 256;
const BOUNCE_SLOTS: usize = 128;

struct Bounce {
    virt: u64,
    phys: u64,
    used: [bool; BOUNCE_SLOTS],
    /// Buffers that did not fit the pool (each its own DMA region).
    overflows: u64,
}

static BOUNCE: Mutex<Option<Bounce>> = Mutex::new(None);

/// Redirected slices: (virtual start, length, physical address), sorted.
static REDIRECTS: Mutex<alloc::vec::Vec<(u64, u64, u64)>> = Mutex::new(alloc::vec::Vec::new());

/// `share` of the slice `[virt, virt + len)` returns `phys` until
/// `unredirect` of its range.
pub fn redirect(virt: u64, len: u64, phys: u64) {
    let mut r = REDIRECTS.lock();
    let at = r.partition_point(|e| e.0 < virt);
    r.insert(at, (virt, len, phys));
}

/// Drops every redirect of a slice starting in `[start, end)`.
pub fn unredirect(start: u64, end: u64) {
    REDIRECTS.lock().retain(|e| e.0 < start || e.0 >= end);
}

fn redirected(virt: u64, len: u64) -> Option<u64> {
    let r = REDIRECTS.lock();
    let at = r.partition_point(|e| e.0 < virt);
    r.get(at).filter(|e| e.0 == virt && e.1 == len).map(|e| e.2)
}

/// Counters for the `Stats` figures and the README.
pub static BOUNCED_BYTES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Allocates `len` bytes of zeroed, physically contiguous DMA memory and
/// remembers it so `share` can hand it to the device in place.
pub fn alloc(len: usize) -> Result<(NonNull<u8>, u64), userlib::Error> {
    let (virt, phys, size) = userlib::sys::dma_alloc(len as u64)?;
    let mut regions = REGIONS.lock();
    if regions.count < MAX_REGIONS {
        let i = regions.count;
        regions.list[i] = Region {
            virt,
            phys,
            len: size,
        };
        regions.count += 1;
    }
    // The kernel never returns address 0 for a successful allocation.
    NonNull::new(virt as *mut u8)
        .map(|p| (p, phys))
        .ok_or(userlib::Error::NoMemory)
}

/// Forgets the region at `virt` and returns its memory to the kernel
/// (`DMA_FREE`). The device must no longer use it.
fn free(virt: u64) {
    let mut regions = REGIONS.lock();
    let count = regions.count;
    if let Some(i) = regions.list[..count].iter().position(|r| r.virt == virt) {
        let r = regions.list[i];
        regions.list[i] = regions.list[count - 1];
        regions.count -= 1;
        drop(regions);
        let _ = userlib::sys::dma_free(r.virt, r.len);
    }
}

/// The physical address of `[virt, virt + len)` if it lies inside one
/// contiguous DMA region.
fn phys_of(virt: u64, len: u64) -> Option<u64> {
    let regions = REGIONS.lock();
    regions.list[..regions.count]
        .iter()
        .find(|r| virt >= r.virt && virt.checked_add(len).is_some_and(|e| e <= r.virt + r.len))
        .map(|r| r.phys + (virt - r.virt))
}

/// Sets up the bounce pool; call once before the first device.
pub fn init() -> Result<(), userlib::Error> {
    let (virt, phys) = alloc(BOUNCE_SLOT * BOUNCE_SLOTS)?;
    *BOUNCE.lock() = Some(Bounce {
        virt: virt.as_ptr() as u64,
        phys,
        used: [false; BOUNCE_SLOTS],
        overflows: 0,
    });
    Ok(())
}

/// The HAL type given to virtio-drivers.
pub struct DmaHal;

// Safety: `dma_alloc` returns zeroed, page-aligned, contiguous memory that
// only this allocation uses (DMA_ALLOC maps fresh frames); `mmio_phys_to_virt`
// returns a fresh uncached mapping of the granted BAR; `share` returns a
// physical address whose bytes equal the buffer's (in place or bounced) and
// `unshare` copies device-written bytes back before the bounce slot is reused.
unsafe impl Hal for DmaHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match alloc(pages * PAGE_SIZE) {
            Ok((virt, phys)) => (phys, virt),
            // The trait has no error path; without ring memory the driver
            // cannot run at all.
            Err(e) => panic!("virtio-hal: DMA_ALLOC of {pages} pages failed: {e:?}"),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, _pages: usize) -> i32 {
        free(vaddr.as_ptr() as u64);
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match userlib::sys::mmio_map(paddr, size as u64) {
            Ok(virt) => NonNull::new(virt as *mut u8).unwrap_or(NonNull::dangling()),
            Err(e) => panic!(
                "virtio-hal: MMIO_MAP of BAR region {paddr:#x}+{size:#x} refused: {e:?} (missing mmio= grant?)"
            ),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        if let Some(phys) = redirected(virt, len as u64) {
            return phys;
        }
        if let Some(phys) = phys_of(virt, len as u64) {
            return phys;
        }
        BOUNCED_BYTES.fetch_add(len as u64, core::sync::atomic::Ordering::Relaxed);
        let slots = len.div_ceil(BOUNCE_SLOT).max(1);
        let mut guard = BOUNCE.lock();
        let Some(pool) = guard.as_mut() else {
            panic!("virtio-hal: share before hal::init");
        };
        let start = (0..=BOUNCE_SLOTS.saturating_sub(slots))
            .find(|&s| pool.used[s..s + slots].iter().all(|u| !u));
        let (dst, phys) = match start {
            Some(s) => {
                pool.used[s..s + slots].iter_mut().for_each(|u| *u = true);
                let off = (s * BOUNCE_SLOT) as u64;
                ((pool.virt + off) as *mut u8, pool.phys + off)
            }
            None => {
                pool.overflows += 1;
                drop(guard);
                match alloc(len) {
                    Ok((p, phys)) => (p.as_ptr(), phys),
                    Err(e) => panic!("virtio-hal: no DMA memory to bounce {len} bytes: {e:?}"),
                }
            }
        };
        if direction != BufferDirection::DeviceToDriver {
            // Safety: `buffer` is valid for `len` bytes (the caller's
            // contract) and `dst` is `len` bytes of our DMA memory, reserved
            // above, so the two do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(virt as *const u8, dst, len) };
        }
        phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        if redirected(virt, len as u64) == Some(paddr) || phys_of(virt, len as u64) == Some(paddr) {
            return;
        }
        let mut guard = BOUNCE.lock();
        let Some(pool) = guard.as_mut() else {
            return;
        };
        let pool_len = (BOUNCE_SLOT * BOUNCE_SLOTS) as u64;
        let (src, overflow) = if paddr >= pool.phys && paddr < pool.phys + pool_len {
            let s = ((paddr - pool.phys) as usize) / BOUNCE_SLOT;
            let slots = len.div_ceil(BOUNCE_SLOT).max(1);
            pool.used[s..(s + slots).min(BOUNCE_SLOTS)]
                .iter_mut()
                .for_each(|u| *u = false);
            ((pool.virt + (paddr - pool.phys)) as *const u8, false)
        } else {
            // An overflow region: find it by its physical address.
            drop(guard);
            let regions = REGIONS.lock();
            match regions.list[..regions.count]
                .iter()
                .find(|r| r.phys == paddr)
            {
                Some(r) => (r.virt as *const u8, true),
                None => return,
            }
        };
        if direction != BufferDirection::DriverToDevice {
            // Safety: `src` is the bounce copy `share` made for this buffer
            // (same length); `buffer` is valid and unaliased for the call.
            unsafe { core::ptr::copy_nonoverlapping(src, virt as *mut u8, len) };
        }
        if overflow {
            // The device has finished with it (unshare follows completion).
            free(src as u64);
        }
    }
}
