//! Physical memory: the kernel heap, the frame allocator built from the PVH
//! E820 map, and the kernel's page tables (all RAM direct-mapped at
//! `PHYS_OFFSET`, the image at `KERNEL_VMA`, nothing in the lower half).

use crate::boot::{MemmapEntry, ModlistEntry, StartInfo};
use kernel_logic::frames::{FrameAllocator, Region};
use kernel_logic::layout::{KERNEL_VMA, PHYS_OFFSET};
use kernel_logic::paging::{self, PhysMem, GLOBAL, NO_EXECUTE, WRITABLE};
use linked_list_allocator::LockedHeap;
use spin::Mutex;

const HEAP_SIZE: usize = 8 << 20;

#[repr(align(4096))]
#[allow(dead_code)] // only its address is used
struct HeapArea([u8; HEAP_SIZE]);
static mut HEAP_AREA: HeapArea = HeapArea([0; HEAP_SIZE]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

pub static FRAMES: Mutex<Option<FrameAllocator>> = Mutex::new(None);

/// Physical address of the kernel's PML4; its upper half is shared by every
/// process's page table.
static KERNEL_ROOT: spin::Once<u64> = spin::Once::new();

/// Physical memory is capped here (the frame bitmap and direct map size).
const PHYS_LIMIT: u64 = 4 << 30;

extern "C" {
    static kernel_image_end: u8;
}

/// Pointer to physical address `phys` through the direct map.
pub fn phys_to_virt(phys: u64) -> *mut u8 {
    (PHYS_OFFSET + phys) as *mut u8
}

/// Page-table access through the direct map, new tables from `FRAMES`.
pub struct DirectMap;

impl PhysMem for DirectMap {
    fn table(&mut self, phys: u64) -> &mut [u64; 512] {
        // Safety: `phys` is a page-table frame (from `alloc_table` or a
        // present entry), direct-mapped, and the kernel is single-threaded
        // with interrupts off while it edits tables.
        unsafe { &mut *(phys_to_virt(phys) as *mut [u64; 512]) }
    }
    fn alloc_table(&mut self) -> Option<u64> {
        alloc_zeroed_frame()
    }
}

pub fn alloc_zeroed_frame() -> Option<u64> {
    let frame = FRAMES.lock().as_mut()?.alloc()?;
    // Safety: the frame was just allocated, so nothing else uses it.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame), 0, 4096) };
    Some(frame)
}

pub fn free_frame(frame: u64) {
    if let Some(fa) = FRAMES.lock().as_mut() {
        if let Err(e) = fa.free(frame) {
            log::error!("freeing frame {frame:#x}: {e:?}");
        }
    }
}

pub fn free_frames() -> u64 {
    FRAMES.lock().as_ref().map_or(0, |f| f.free_frames())
}

pub fn kernel_root() -> u64 {
    *KERNEL_ROOT.get().expect("memory::init ran")
}

/// Sets up the heap, the frame allocator and the kernel page tables, and
/// switches to them. Before this only the boot tables (first 1 GiB) exist.
pub fn init(info: &StartInfo) {
    // Safety: the heap area is a static used for nothing else.
    unsafe {
        HEAP.lock()
            .init(core::ptr::addr_of_mut!(HEAP_AREA) as *mut u8, HEAP_SIZE)
    };

    // Safety: the boot tables map the first 1 GiB at PHYS_OFFSET, where QEMU
    // puts the memory map and the module list.
    let memmap = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(info.memmap_paddr) as *const MemmapEntry,
            info.memmap_entries as usize,
        )
    };
    let regions: alloc::vec::Vec<Region> = memmap
        .iter()
        .map(|e| Region {
            start: e.addr,
            len: e.size,
            kind: e.kind,
        })
        .collect();
    for r in &regions {
        log::info!(
            "e820: {:#012x}..{:#012x} type {}",
            r.start,
            r.start + r.len,
            r.kind
        );
    }
    let image_end = core::ptr::addr_of!(kernel_image_end) as u64 - KERNEL_VMA;
    let mut reserved = alloc::vec![(0u64, 0x10_0000u64), (0x10_0000, image_end - 0x10_0000)];
    for m in modules(info) {
        reserved.push((m.paddr, m.size));
    }
    let fa = FrameAllocator::new(&regions, &reserved, PHYS_LIMIT);
    log::info!(
        "frames: {} free ({} MiB)",
        fa.free_frames(),
        (fa.free_frames() * 4096) >> 20
    );
    *FRAMES.lock() = Some(fa);

    // The whole first 4 GiB (RAM the frame allocator manages, and the MMIO
    // holes, which the kernel does not touch but costs nothing to cover).
    let direct_top = PHYS_LIMIT;
    let mut mem = DirectMap;
    let root = alloc_zeroed_frame().expect("a frame for the kernel PML4");
    let mut phys = 0;
    while phys < direct_top {
        paging::map_2m(
            &mut mem,
            root,
            PHYS_OFFSET + phys,
            phys,
            WRITABLE | GLOBAL | NO_EXECUTE,
        )
        .expect("direct map");
        phys += 2 << 20;
    }
    let mut phys = 0;
    while phys < image_end {
        paging::map_2m(&mut mem, root, KERNEL_VMA + phys, phys, WRITABLE | GLOBAL)
            .expect("kernel image map");
        phys += 2 << 20;
    }
    // Pre-create every upper-half PDPT so process tables can share them by
    // copying PML4 entries 256..512 once.
    for i in 256..512 {
        if mem.table(root)[i] & paging::PRESENT == 0 {
            let t = alloc_zeroed_frame().expect("upper-half PDPT");
            mem.table(root)[i] = t | paging::PRESENT | WRITABLE;
        }
    }
    KERNEL_ROOT.call_once(|| root);
    // Safety: the new tables map the kernel image and the direct map exactly
    // as the boot tables did (for everything the kernel uses from now on).
    unsafe { write_cr3(root) };
    log::info!(
        "paging: kernel tables at {root:#x}, direct map of {} MiB",
        direct_top >> 20
    );
}

pub fn modules(info: &StartInfo) -> &'static [ModlistEntry] {
    if info.nr_modules == 0 || info.modlist_paddr == 0 {
        return &[];
    }
    // Safety: QEMU wrote `nr_modules` entries at `modlist_paddr` (low memory,
    // direct-mapped).
    unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(info.modlist_paddr) as *const ModlistEntry,
            info.nr_modules as usize,
        )
    }
}

/// # Safety
/// `root` must be a PML4 whose upper half is the kernel's.
pub unsafe fn write_cr3(root: u64) {
    // Safety: per the function contract.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) };
}

pub fn read_cr3() -> u64 {
    let v: u64;
    // Safety: reading CR3 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v & 0x000F_FFFF_FFFF_F000
}

/// A new address space: an empty lower half and the kernel's upper half.
pub fn new_address_space() -> Option<u64> {
    let root = alloc_zeroed_frame()?;
    let mut mem = DirectMap;
    let kernel = kernel_root();
    for i in 256..512 {
        let e = mem.table(kernel)[i];
        mem.table(root)[i] = e;
    }
    Some(root)
}
