//! Four-level x86-64 page tables, built and walked through the [`PhysMem`]
//! trait (the kernel reaches tables through its direct map; tests use a fake).
//!
//! # Invariants
//! - Intermediate entries are `PRESENT | WRITABLE | USER`; the leaf alone
//!   decides the permissions of a mapping.
//! - A page is never silently remapped: mapping over a present entry is an
//!   error.

use alloc::vec::Vec;

pub const PRESENT: u64 = 1;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
/// Write-through and cache-disable: device memory (MMIO) mappings.
pub const WRITE_THROUGH: u64 = 1 << 3;
pub const CACHE_DISABLE: u64 = 1 << 4;
pub const HUGE: u64 = 1 << 7;
/// Software bit (ignored by the CPU): the leaf maps device memory, not a
/// frame of the allocator, so it is never freed.
pub const DEVICE: u64 = 1 << 9;
pub const GLOBAL: u64 = 1 << 8;
pub const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const TABLE_FLAGS: u64 = PRESENT | WRITABLE | USER;

/// Access to physical memory holding page tables.
pub trait PhysMem {
    /// The 512 entries of the table in the frame at physical `phys`.
    fn table(&mut self, phys: u64) -> &mut [u64; 512];
    /// A zero-filled frame for a new table, or `None` when out of memory.
    fn alloc_table(&mut self) -> Option<u64>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The virtual or physical address is not aligned to the page size.
    Unaligned { vaddr: u64, paddr: u64 },
    /// The virtual address is not canonical.
    NonCanonical(u64),
    /// Something is already mapped at `vaddr`.
    AlreadyMapped(u64),
    /// No frame for an intermediate table.
    NoMemory,
}

fn index(vaddr: u64, level: u32) -> usize {
    ((vaddr >> (12 + 9 * level)) & 0x1FF) as usize
}

fn canonical(vaddr: u64) -> bool {
    let top = vaddr >> 47;
    top == 0 || top == 0x1_FFFF
}

/// Walks from `root` down to the table at `level` (0 = PT) for `vaddr`,
/// creating missing tables.
fn walk_create<M: PhysMem>(
    mem: &mut M,
    root: u64,
    vaddr: u64,
    level: u32,
) -> Result<u64, MapError> {
    let mut table = root;
    for l in (level + 1..=3).rev() {
        let i = index(vaddr, l);
        let entry = mem.table(table)[i];
        if entry & PRESENT == 0 {
            let new = mem.alloc_table().ok_or(MapError::NoMemory)?;
            mem.table(table)[i] = new | TABLE_FLAGS;
            table = new;
        } else if entry & HUGE != 0 {
            return Err(MapError::AlreadyMapped(vaddr));
        } else {
            table = entry & ADDR_MASK;
        }
    }
    Ok(table)
}

fn map_at_level<M: PhysMem>(
    mem: &mut M,
    root: u64,
    vaddr: u64,
    paddr: u64,
    flags: u64,
    level: u32,
) -> Result<(), MapError> {
    let size = 1u64 << (12 + 9 * level);
    if !vaddr.is_multiple_of(size) || !paddr.is_multiple_of(size) {
        return Err(MapError::Unaligned { vaddr, paddr });
    }
    if !canonical(vaddr) {
        return Err(MapError::NonCanonical(vaddr));
    }
    let table = walk_create(mem, root, vaddr, level)?;
    let i = index(vaddr, level);
    let entries = mem.table(table);
    if entries[i] & PRESENT != 0 {
        return Err(MapError::AlreadyMapped(vaddr));
    }
    let huge = if level > 0 { HUGE } else { 0 };
    entries[i] = (paddr & ADDR_MASK) | flags | PRESENT | huge;
    Ok(())
}

/// Maps the 4 KiB page at `vaddr` to `paddr` with `flags` (PRESENT implied).
pub fn map_4k<M: PhysMem>(
    mem: &mut M,
    root: u64,
    vaddr: u64,
    paddr: u64,
    flags: u64,
) -> Result<(), MapError> {
    map_at_level(mem, root, vaddr, paddr, flags, 0)
}

/// Maps the 2 MiB page at `vaddr` to `paddr` with `flags`.
pub fn map_2m<M: PhysMem>(
    mem: &mut M,
    root: u64,
    vaddr: u64,
    paddr: u64,
    flags: u64,
) -> Result<(), MapError> {
    map_at_level(mem, root, vaddr, paddr, flags, 1)
}

/// Removes the 4 KiB leaf mapping `vaddr` and returns the entry it held
/// (the caller frees the frame and flushes the TLB entry), or `None` when no
/// 4 KiB page is mapped there. Intermediate tables stay (they are freed with
/// the process).
pub fn unmap_4k<M: PhysMem>(mem: &mut M, root: u64, vaddr: u64) -> Option<u64> {
    if !canonical(vaddr) || vaddr & 0xFFF != 0 {
        return None;
    }
    let mut table = root;
    for level in (1..=3).rev() {
        let entry = mem.table(table)[index(vaddr, level)];
        if entry & PRESENT == 0 || entry & HUGE != 0 {
            return None;
        }
        table = entry & ADDR_MASK;
    }
    let entries = mem.table(table);
    let entry = entries[index(vaddr, 0)];
    if entry & PRESENT == 0 {
        return None;
    }
    entries[index(vaddr, 0)] = 0;
    Some(entry)
}

/// A present mapping: the physical address `vaddr` translates to and the
/// effective permissions (WRITABLE and USER only if every level grants them,
/// NO_EXECUTE if any level sets it, DEVICE if the leaf has it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub paddr: u64,
    pub flags: u64,
}

pub fn translate<M: PhysMem>(mem: &mut M, root: u64, vaddr: u64) -> Option<Translation> {
    if !canonical(vaddr) {
        return None;
    }
    let mut table = root;
    let mut flags = WRITABLE | USER;
    let mut nx = 0;
    for level in (0..=3).rev() {
        let entry = mem.table(table)[index(vaddr, level)];
        if entry & PRESENT == 0 {
            return None;
        }
        flags &= entry;
        nx |= entry & NO_EXECUTE;
        if level == 0 || entry & HUGE != 0 {
            let size = 1u64 << (12 + 9 * level);
            let paddr = (entry & ADDR_MASK & !(size - 1)) + (vaddr & (size - 1));
            return Some(Translation {
                paddr,
                flags: flags | nx | PRESENT | (entry & DEVICE),
            });
        }
        table = entry & ADDR_MASK;
    }
    None
}

/// What the upper three levels say about one 2 MiB region: its last-level
/// table and the permissions gathered on the way down to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LeafTable {
    /// `vaddr >> 21` of the region.
    region: u64,
    table: u64,
    flags: u64,
    nx: u64,
}

/// The first three levels of `translate`'s walk: the last-level table of
/// `vaddr`, or (`Err`) the walk's end above it: `None` if not present or
/// not canonical, a huge page's translation. Inlined, as `last_level`, so
/// the loop over constant levels unrolls (a loop over a variable level
/// costs several times the instructions with overflow checks).
///
/// `translate` keeps its own loop: written as these two, it cost the IPC
/// round trip ~360 more guest instructions (`bench.cfg` under `-icount`,
/// the callers' inlining changed); `walker_translates_as_translate_does_in_any_order`
/// holds the two walks equal.
#[inline(always)]
fn upper_levels<M: PhysMem>(
    mem: &mut M,
    root: u64,
    vaddr: u64,
) -> Result<LeafTable, Option<Translation>> {
    if !canonical(vaddr) {
        return Err(None);
    }
    let mut table = root;
    let mut flags = WRITABLE | USER;
    let mut nx = 0;
    for level in (1..=3).rev() {
        let entry = mem.table(table)[index(vaddr, level)];
        if entry & PRESENT == 0 {
            return Err(None);
        }
        flags &= entry;
        nx |= entry & NO_EXECUTE;
        if entry & HUGE != 0 {
            let size = 1u64 << (12 + 9 * level);
            let paddr = (entry & ADDR_MASK & !(size - 1)) + (vaddr & (size - 1));
            return Err(Some(Translation {
                paddr,
                flags: flags | nx | PRESENT | (entry & DEVICE),
            }));
        }
        table = entry & ADDR_MASK;
    }
    Ok(LeafTable {
        region: vaddr >> 21,
        table,
        flags,
        nx,
    })
}

/// The last level of `translate`'s walk, in the table `upper_levels` found.
#[inline(always)]
fn last_level<M: PhysMem>(mem: &mut M, leaf: &LeafTable, vaddr: u64) -> Option<Translation> {
    let entry = mem.table(leaf.table)[index(vaddr, 0)];
    if entry & PRESENT == 0 {
        return None;
    }
    Some(Translation {
        paddr: (entry & ADDR_MASK) + (vaddr & 0xFFF),
        flags: (leaf.flags & entry) | leaf.nx | (entry & NO_EXECUTE) | PRESENT | (entry & DEVICE),
    })
}

/// [`translate`] for many addresses of one address space, in any order:
/// it keeps the last 2 MiB region's last-level table, so the pages of a
/// user range cost one table read each instead of four (a lease copy walks
/// every page of both sides twice: the check, then the copy). Results equal
/// `translate`'s; valid only while the tables it walked do not change (the
/// kernel uses one within a single system call).
pub struct Walker {
    root: u64,
    leaf: Option<LeafTable>,
}

impl Walker {
    pub fn new(root: u64) -> Walker {
        Walker { root, leaf: None }
    }

    #[inline(always)]
    pub fn translate<M: PhysMem>(&mut self, mem: &mut M, vaddr: u64) -> Option<Translation> {
        // Equal regions mean equal bits 21..64, so `vaddr` is canonical too.
        match self.leaf {
            Some(leaf) if leaf.region == vaddr >> 21 => last_level(mem, &leaf, vaddr),
            _ => match upper_levels(mem, self.root, vaddr) {
                Ok(leaf) => {
                    self.leaf = Some(leaf);
                    last_level(mem, &leaf, vaddr)
                }
                Err(huge) => huge,
            },
        }
    }
}

/// Every frame reachable from the lower (user) half of `root`: 4 KiB leaf
/// frames and the intermediate tables, so a dead process's memory can be
/// returned. `DEVICE` leaves (MMIO) are not frames and are skipped; huge
/// leaves are not expected in user space and are skipped too.
pub fn user_frames<M: PhysMem>(mem: &mut M, root: u64) -> Vec<u64> {
    let mut out = Vec::new();
    collect(mem, root, 3, 0..256, &mut out);
    out
}

fn collect<M: PhysMem>(
    mem: &mut M,
    table: u64,
    level: u32,
    range: core::ops::Range<usize>,
    out: &mut Vec<u64>,
) {
    for i in range {
        let entry = mem.table(table)[i];
        if entry & PRESENT == 0
            || (level > 0 && entry & HUGE != 0)
            || (level == 0 && entry & DEVICE != 0)
        {
            continue;
        }
        let next = entry & ADDR_MASK;
        if level > 0 {
            collect(mem, next, level - 1, 0..512, out);
        }
        out.push(next);
    }
}

#[cfg(test)]
pub mod fake {
    //! A page-table memory made of heap tables, for tests.
    use super::PhysMem;
    use std::collections::HashMap;

    pub struct FakeMem {
        pub tables: HashMap<u64, Box<[u64; 512]>>,
        pub next: u64,
        pub limit: usize,
    }

    impl FakeMem {
        pub fn new() -> (FakeMem, u64) {
            let mut m = FakeMem {
                tables: HashMap::new(),
                next: 0x10_0000,
                limit: usize::MAX,
            };
            let root = m.alloc_table().unwrap();
            (m, root)
        }
    }

    impl PhysMem for FakeMem {
        fn table(&mut self, phys: u64) -> &mut [u64; 512] {
            self.tables
                .get_mut(&phys)
                .expect("walked into a frame that is not a table")
        }
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() >= self.limit {
                return None;
            }
            let f = self.next;
            self.next += 4096;
            self.tables.insert(f, Box::new([0; 512]));
            Some(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeMem;
    use super::*;

    #[test]
    fn unmap_4k_removes_only_that_page() {
        let (mut m, root) = FakeMem::new();
        map_4k(&mut m, root, 0x40_1000, 0x7000, USER | WRITABLE).unwrap();
        map_4k(&mut m, root, 0x40_2000, 0x8000, USER | WRITABLE).unwrap();
        let entry = unmap_4k(&mut m, root, 0x40_1000).unwrap();
        assert_eq!(entry & ADDR_MASK, 0x7000);
        assert_eq!(translate(&mut m, root, 0x40_1000), None);
        assert_eq!(translate(&mut m, root, 0x40_2000).unwrap().paddr, 0x8000);
        assert_eq!(unmap_4k(&mut m, root, 0x40_1000), None);
        assert_eq!(unmap_4k(&mut m, root, 0x40_2001), None);
        assert_eq!(unmap_4k(&mut m, root, 0x7000_0000), None);
        // The page can be mapped again; a device leaf shows as DEVICE.
        map_4k(&mut m, root, 0x40_1000, 0x9000, USER | DEVICE).unwrap();
        assert_ne!(
            translate(&mut m, root, 0x40_1000).unwrap().flags & DEVICE,
            0
        );
        assert_eq!(
            translate(&mut m, root, 0x40_2000).unwrap().flags & DEVICE,
            0
        );
        let va = 0xFFFF_8000_0020_0000;
        map_2m(&mut m, root, va, 0x20_0000, WRITABLE).unwrap();
        assert_eq!(
            unmap_4k(&mut m, root, va),
            None,
            "a 2 MiB page is not unmapped as 4 KiB"
        );
    }

    #[test]
    fn map_then_translate_4k_and_2m() {
        let (mut m, root) = FakeMem::new();
        map_4k(&mut m, root, 0x40_1000, 0x7000, USER | WRITABLE).unwrap();
        let t = translate(&mut m, root, 0x40_1234).unwrap();
        assert_eq!(t.paddr, 0x7234);
        assert_eq!(t.flags & (USER | WRITABLE), USER | WRITABLE);
        assert_eq!(translate(&mut m, root, 0x40_2000), None);
        // 4 tables: PML4, PDPT, PD, PT.
        assert_eq!(m.tables.len(), 4);

        let va = 0xFFFF_8000_0020_0000;
        map_2m(&mut m, root, va, 0x20_0000, WRITABLE | NO_EXECUTE).unwrap();
        let t = translate(&mut m, root, va + 0x1_2345).unwrap();
        assert_eq!(t.paddr, 0x21_2345);
        assert_eq!(t.flags & USER, 0);
        assert_ne!(t.flags & NO_EXECUTE, 0);
    }

    #[test]
    fn remapping_unaligned_and_noncanonical_are_refused() {
        let (mut m, root) = FakeMem::new();
        map_4k(&mut m, root, 0x40_0000, 0x5000, USER).unwrap();
        assert_eq!(
            map_4k(&mut m, root, 0x40_0000, 0x6000, USER),
            Err(MapError::AlreadyMapped(0x40_0000))
        );
        assert_eq!(
            map_4k(&mut m, root, 0x40_0001, 0x6000, USER),
            Err(MapError::Unaligned {
                vaddr: 0x40_0001,
                paddr: 0x6000
            })
        );
        assert_eq!(
            map_4k(&mut m, root, 0x0000_8000_0000_0000, 0x6000, USER),
            Err(MapError::NonCanonical(0x0000_8000_0000_0000))
        );
        // A 4 KiB page under an existing 2 MiB page.
        map_2m(&mut m, root, 0x80_0000, 0x20_0000, USER).unwrap();
        assert_eq!(
            map_4k(&mut m, root, 0x80_1000, 0x6000, USER),
            Err(MapError::AlreadyMapped(0x80_1000))
        );
    }

    #[test]
    fn read_only_leaf_is_not_writable_and_out_of_memory_is_an_error() {
        let (mut m, root) = FakeMem::new();
        map_4k(&mut m, root, 0x40_0000, 0x5000, USER).unwrap();
        assert_eq!(
            translate(&mut m, root, 0x40_0000).unwrap().flags & WRITABLE,
            0
        );
        m.limit = m.tables.len();
        assert_eq!(
            map_4k(&mut m, root, 0x7000_0000_0000, 0x5000, USER),
            Err(MapError::NoMemory)
        );
    }

    #[test]
    fn user_frames_lists_leaves_and_tables_of_the_lower_half_only() {
        let (mut m, root) = FakeMem::new();
        map_4k(&mut m, root, 0x40_0000, 0xA000, USER).unwrap();
        map_4k(&mut m, root, 0x40_1000, 0xB000, USER).unwrap();
        map_4k(&mut m, root, 0x40_2000, 0xFED0_0000, USER | DEVICE).unwrap();
        map_2m(&mut m, root, 0xFFFF_8000_0000_0000, 0, WRITABLE).unwrap();
        let mut frames = user_frames(&mut m, root);
        frames.sort();
        // 2 leaves + PDPT + PD + PT of the lower half; not the device page,
        // not the root itself.
        assert_eq!(frames.len(), 5);
        assert!(!frames.contains(&0xFED0_0000));
        assert!(frames.contains(&0xA000) && frames.contains(&0xB000));
        assert!(!frames.contains(&root));
    }

    /// Counts the table reads of a walk.
    struct Counting<'a> {
        mem: &'a mut FakeMem,
        reads: usize,
    }

    impl PhysMem for Counting<'_> {
        fn table(&mut self, phys: u64) -> &mut [u64; 512] {
            self.reads += 1;
            self.mem.table(phys)
        }
        fn alloc_table(&mut self) -> Option<u64> {
            self.mem.alloc_table()
        }
    }

    #[test]
    fn walker_translates_as_translate_does_in_any_order() {
        let (mut m, root) = FakeMem::new();
        let a = 0x40_0000;
        // One 2 MiB region of 4 KiB pages with every kind of leaf and a hole.
        let leaves = [
            USER | WRITABLE,
            USER,
            USER | WRITABLE | NO_EXECUTE,
            USER | DEVICE,
            0,
            WRITABLE,
        ];
        for (i, flags) in leaves.iter().enumerate() {
            let va = a + i as u64 * 0x1000;
            if *flags != 0 {
                map_4k(&mut m, root, va, 0x100_0000 + i as u64 * 0x3000, *flags).unwrap();
            }
        }
        // A second region whose page directory entry is not USER: its leaves
        // must lose USER on the cached path too.
        let b = 0x60_0000;
        map_4k(&mut m, root, b, 0x200_0000, USER | WRITABLE).unwrap();
        map_4k(&mut m, root, b + 0x1000, 0x201_0000, USER | WRITABLE).unwrap();
        let pdpt = m.table(root)[index(b, 3)] & ADDR_MASK;
        let pd = m.table(pdpt)[index(b, 2)] & ADDR_MASK;
        m.table(pd)[index(b, 1)] &= !USER;
        // A 2 MiB page, a kernel-half page, and addresses nothing maps.
        map_2m(&mut m, root, 0x80_0000, 0x40_0000, USER | WRITABLE).unwrap();
        let k = 0xFFFF_8000_0000_0000;
        map_4k(&mut m, root, k, 0x300_0000, WRITABLE).unwrap();
        let mut order = alloc::vec::Vec::new();
        for i in 0..8u64 {
            order.extend([
                a + i * 0x1000 + 5,
                b + i * 0x1000,
                0x80_0000 + i * 0x1_0000 + 7,
            ]);
        }
        order.extend([
            a + 0x1000,
            a + 0x1FFF,
            b + 0xFFF,
            k + 0x123,
            a,
            0xA0_0000,
            0x0000_8000_0000_0000,
            0xFFFF_7FFF_FFFF_F000,
            u64::MAX,
            a + 0x2000,
            k + 0x1000,
        ]);
        let mut walker = Walker::new(root);
        for va in order {
            assert_eq!(
                walker.translate(&mut m, va),
                translate(&mut m, root, va),
                "{va:#x}"
            );
        }
    }

    #[test]
    fn walker_reads_one_entry_per_page_of_a_region() {
        let (mut m, root) = FakeMem::new();
        for i in 0..512 {
            map_4k(
                &mut m,
                root,
                0x40_0000 + i * 0x1000,
                0x100_0000 + i * 0x1000,
                USER,
            )
            .unwrap();
        }
        let mut count = Counting {
            mem: &mut m,
            reads: 0,
        };
        let mut walker = Walker::new(root);
        for i in 0..512 {
            assert!(walker
                .translate(&mut count, 0x40_0000 + i * 0x1000)
                .is_some());
        }
        // Four levels for the first page, the last level for the others
        // (translate alone reads 4 * 512).
        assert_eq!(count.reads, 4 + 511);
    }
}
