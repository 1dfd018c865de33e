//! Physical memory: the kernel heap, the frame allocator built from the PVH
//! E820 map, and the kernel's page tables (all RAM direct-mapped at
//! `PHYS_OFFSET`, the image at `KERNEL_VMA` mapped W^X, nothing in the
//! lower half), and SMEP/SMAP.

use crate::boot::{MemmapEntry, ModlistEntry, StartInfo};
use kernel_logic::frames::{FrameAllocator, Region};
use kernel_logic::imagemap::{writable_and_executable, ImageSections};
use kernel_logic::layout::{KERNEL_VMA, PHYS_OFFSET};
use kernel_logic::paging::{
    self, PhysMem, CACHE_DISABLE, GLOBAL, NO_EXECUTE, WRITABLE, WRITE_THROUGH,
};
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
    static kernel_image_start: u8;
    static kernel_text_end: u8;
    static kernel_rodata_end: u8;
    static kernel_image_end: u8;
}

/// The image's parts, from the linker script's symbols.
fn image_sections() -> ImageSections {
    let s = ImageSections {
        start: core::ptr::addr_of!(kernel_image_start) as u64,
        text_end: core::ptr::addr_of!(kernel_text_end) as u64,
        rodata_end: core::ptr::addr_of!(kernel_rodata_end) as u64,
        end: core::ptr::addr_of!(kernel_image_end) as u64,
    };
    assert!(s.well_formed(), "kernel image sections {s:?}");
    s
}

/// Walks the new tables over the image and its direct-map alias: no page
/// may be writable and executable, text must not be writable. A failure is
/// a kernel bug found at boot, before any process runs.
fn check_wx(mem: &mut DirectMap, root: u64, s: &ImageSections) {
    let mut pages = 0;
    let mut va = s.start;
    while va < s.end {
        for addr in [va, PHYS_OFFSET + (va - KERNEL_VMA)] {
            let t = paging::translate(mem, root, addr).expect("image mapped");
            assert!(
                !writable_and_executable(t.flags),
                "W^X: {addr:#x} is writable and executable ({:#x})",
                t.flags
            );
            if va < s.rodata_end {
                assert!(
                    t.flags & WRITABLE == 0,
                    "W^X: {addr:#x} (text/rodata) is writable"
                );
            }
        }
        pages += 1;
        va += 4096;
    }
    log::info!(
        "paging: kernel image W^X: text {} KiB r-x, rodata {} KiB r--, data+bss {} KiB rw- ({} pages and their direct-map alias checked)",
        (s.text_end - s.start) >> 10,
        (s.rodata_end - s.text_end) >> 10,
        (s.end - s.rodata_end) >> 10,
        pages
    );
}

/// Set when CR4.SMAP is on; the trap entry then clears RFLAGS.AC, which an
/// interrupt from ring 3 leaves as the process set it.
#[no_mangle]
static mut SMAP_ON: u8 = 0;

/// SMEP (the kernel never executes user pages) and SMAP (it never reads or
/// writes them through user addresses: every copy goes through the direct
/// map, `usermem.rs`), when the CPU has them. QEMU's default CPU model has
/// neither: `-cpu qemu64,+smep,+smap` (or `max`) turns them on.
fn enable_smep_smap() {
    const CR4_SMEP: u64 = 1 << 20;
    const CR4_SMAP: u64 = 1 << 21;
    let ebx = core::arch::x86_64::__cpuid_count(7, 0).ebx;
    let (smep, smap) = (ebx & (1 << 7) != 0, ebx & (1 << 20) != 0);
    let mut cr4: u64;
    // Safety: reading CR4.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack)) };
    if smep {
        cr4 |= CR4_SMEP;
    }
    if smap {
        cr4 |= CR4_SMAP;
        // Safety: single-threaded boot; read by the trap entry only.
        unsafe { core::ptr::addr_of_mut!(SMAP_ON).write(1) };
    }
    // Safety: only bits the CPU reports are set; the kernel touches no
    // user page through a user address, and runs no code from one.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) cr4, options(nostack)) };
    log::info!(
        "cpu: SMEP {}, SMAP {}",
        if smep {
            "on"
        } else {
            "not offered by this CPU"
        },
        if smap {
            "on"
        } else {
            "not offered by this CPU"
        }
    );
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
    // holes, which the kernel does not touch but costs nothing to cover),
    // never executable; 4 KiB pages where the image's text and rodata are,
    // which the direct map shows read-only (W^X, kernel_logic::imagemap).
    let sections = image_sections();
    let direct_top = PHYS_LIMIT;
    let mut mem = DirectMap;
    let root = alloc_zeroed_frame().expect("a frame for the kernel PML4");
    let (ro_lo, ro_hi) = (
        sections.start - KERNEL_VMA,
        sections.rodata_end - KERNEL_VMA,
    );
    let mut phys = 0;
    while phys < direct_top {
        let span = 2u64 << 20;
        if phys < ro_hi && ro_lo < phys + span {
            let mut p = phys;
            while p < phys + span {
                let flags = sections.direct_map_flags(KERNEL_VMA, p);
                paging::map_4k(&mut mem, root, PHYS_OFFSET + p, p, flags).expect("direct map");
                p += 4096;
            }
        } else {
            // The local APIC's registers (apic.rs) are device memory: uncached.
            let uncached = if phys == crate::apic::phys_base() & !(span - 1) {
                CACHE_DISABLE | WRITE_THROUGH
            } else {
                0
            };
            paging::map_2m(
                &mut mem,
                root,
                PHYS_OFFSET + phys,
                phys,
                WRITABLE | GLOBAL | NO_EXECUTE | uncached,
            )
            .expect("direct map");
        }
        phys += span;
    }
    // The image: text read-execute, rodata read-only, data and bss
    // read-write no-execute, in 4 KiB pages.
    let mut va = sections.start;
    while va < sections.end {
        let flags = sections.page_flags(va).expect("inside the image");
        paging::map_4k(&mut mem, root, va, va - KERNEL_VMA, flags).expect("kernel image map");
        va += 4096;
    }
    check_wx(&mut mem, root, &sections);
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
    enable_smep_smap();
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
