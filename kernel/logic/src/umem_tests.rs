//! Hostile user ranges against a fake address space.
use super::*;
use crate::layout::{KERNEL_VMA, PHYS_OFFSET, USER_END};
use crate::paging::fake::FakeMem;
use crate::paging::{map_4k, DEVICE};

// Safety: every frame of the fake is a heap table of 4096 bytes; the
// pointer is to the byte `paddr` names inside it.
unsafe impl PhysBytes for FakeMem {
    fn byte_ptr(&mut self, paddr: u64) -> *mut u8 {
        let frame = self.table(paddr & !0xFFF);
        // Safety: the offset is below 4096, inside the frame.
        unsafe { (frame.as_mut_ptr() as *mut u8).add((paddr & 0xFFF) as usize) }
    }
}

const BASE: u64 = 0x40_0000;

/// An address space with pages at BASE (writable), BASE + 4K (writable),
/// BASE + 8K (read-only) and BASE + 16K (writable); BASE + 12K unmapped.
fn space() -> (FakeMem, u64) {
    let (mut m, root) = FakeMem::new();
    for (i, flags) in [(0, WRITABLE), (1, WRITABLE), (2, 0), (4, WRITABLE)] {
        let frame = m.alloc_table().unwrap();
        map_4k(&mut m, root, BASE + i * PAGE_SIZE, frame, USER | flags).unwrap();
    }
    (m, root)
}

#[test]
fn overflowing_lengths_are_refused_before_any_walk() {
    assert!(matches!(
        UserSlice::<u8>::new(BASE, u64::MAX),
        Err(UserMemError::Overflow { .. })
    ));
    assert!(matches!(
        UserSlice::<u8>::new(u64::MAX - 3, 8),
        Err(UserMemError::Overflow { .. })
    ));
    // count * size overflows although count alone does not.
    assert!(matches!(
        UserSliceMut::<abi::Message>::new(BASE, u64::MAX / 64),
        Err(UserMemError::Overflow { .. })
    ));
}

#[test]
fn kernel_half_noncanonical_and_null_addresses_are_not_user() {
    for addr in [
        PHYS_OFFSET,
        KERNEL_VMA,
        0x0000_8000_0000_0000,
        0x1234_5678_0000_0000,
        0,
        8,
    ] {
        assert!(
            matches!(
                UserSlice::<u8>::new(addr, 1),
                Err(UserMemError::NotUser { .. })
            ),
            "{addr:#x}"
        );
    }
    // A range that starts in user space and runs into the hole.
    assert_eq!(
        UserSliceMut::<u8>::new(USER_END - 4, 8),
        Err(UserMemError::NotUser {
            addr: USER_END - 4,
            len: 8
        })
    );
    assert!(UserSlice::<u8>::new(USER_END - 8, 8).is_ok());
}

#[test]
fn unmapped_and_read_only_pages_name_the_page() {
    let (mut m, root) = space();
    let gap = UserSlice::<u8>::new(BASE + 3 * PAGE_SIZE - 1, 2).unwrap();
    assert_eq!(
        gap.check(&mut m, root),
        Err(UserMemError::Unmapped {
            page: BASE + 3 * PAGE_SIZE
        })
    );
    let ro = UserSliceMut::<u8>::new(BASE + PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
    assert_eq!(
        ro.check(&mut m, root),
        Err(UserMemError::ReadOnly {
            page: BASE + 2 * PAGE_SIZE
        })
    );
    // Reading the read-only page is fine.
    let r = UserSlice::<u8>::new(BASE + PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
    assert_eq!(r.check(&mut m, root), Ok(()));
    // A device window is never copied from (it may lie outside the map).
    let frame = m.alloc_table().unwrap();
    map_4k(
        &mut m,
        root,
        BASE + 8 * PAGE_SIZE,
        frame,
        USER | WRITABLE | DEVICE,
    )
    .unwrap();
    let mut out = [0u8; 4];
    assert_eq!(
        UserSlice::<u8>::new(BASE + 8 * PAGE_SIZE, 4)
            .unwrap()
            .read_into(&mut m, root, &mut out),
        Err(UserMemError::Device {
            page: BASE + 8 * PAGE_SIZE
        })
    );
}

#[test]
fn a_refused_write_changes_nothing() {
    let (mut m, root) = space();
    let ro = UserSliceMut::<u8>::new(BASE + 2 * PAGE_SIZE - 4, 8).unwrap();
    assert!(ro.write_from(&mut m, root, &[0xAA; 8]).is_err());
    let mut back = [0u8; 4];
    UserSlice::<u8>::new(BASE + 2 * PAGE_SIZE - 4, 4)
        .unwrap()
        .read_into(&mut m, root, &mut back)
        .unwrap();
    assert_eq!(back, [0; 4], "the writable first half was not written");
}

#[test]
fn copies_cross_pages_and_round_trip() {
    let (mut m, root) = space();
    let data: alloc::vec::Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
    let dst = UserSliceMut::<u8>::new(BASE + 100, 6000).unwrap();
    dst.write_from(&mut m, root, &data).unwrap();
    let mut back = alloc::vec![0u8; 6000];
    UserSlice::<u8>::new(BASE + 100, 6000)
        .unwrap()
        .read_into(&mut m, root, &mut back)
        .unwrap();
    assert_eq!(back, data);

    let msg = abi::Message {
        label: 7,
        cap: 3,
        ..Default::default()
    };
    let at = BASE + PAGE_SIZE - 40; // straddles a page boundary
    UserSliceMut::<abi::Message>::one(at)
        .unwrap()
        .write_value(&mut m, root, &msg)
        .unwrap();
    let read = UserSlice::<abi::Message>::one(at)
        .unwrap()
        .read_value(&mut m, root)
        .unwrap();
    assert_eq!(read, msg);
}

#[test]
fn buffer_length_must_match_and_sub_slices_stay_inside() {
    let (mut m, root) = space();
    let s = UserSlice::<u8>::new(BASE, 16).unwrap();
    let mut short = [0u8; 8];
    assert!(matches!(
        s.read_into(&mut m, root, &mut short),
        Err(UserMemError::OutOfSlice { .. })
    ));
    assert!(s.sub(8, 8).is_ok());
    assert!(s.sub(9, 8).is_err());
    assert!(s.sub(u64::MAX, 2).is_err());
    assert_eq!(s.sub(4, 4).unwrap().addr(), BASE + 4);
}

#[test]
fn copy_between_two_spaces_checks_both_first() {
    let (mut m, a) = space();
    let b = m.alloc_table().unwrap();
    let frame = m.alloc_table().unwrap();
    map_4k(&mut m, b, BASE, frame, USER).unwrap(); // read-only in b
    let src = UserSliceMut::<u8>::new(BASE + 10, 5).unwrap();
    src.write_from(&mut m, a, b"hello").unwrap();
    let from_a = UserSlice::<u8>::new(BASE + 10, 5).unwrap();
    let into_b = UserSliceMut::<u8>::new(BASE, 5).unwrap();
    assert_eq!(
        copy_between(&mut m, a, &from_a, b, &into_b),
        Err(UserMemError::ReadOnly { page: BASE })
    );
    // Into a's writable page 4 instead.
    let into_a = UserSliceMut::<u8>::new(BASE + 4 * PAGE_SIZE + 4094, 5).unwrap();
    assert_eq!(
        copy_between(&mut m, a, &from_a, a, &into_a),
        Err(UserMemError::Unmapped {
            page: BASE + 5 * PAGE_SIZE
        })
    );
    let into_a = UserSliceMut::<u8>::new(BASE + 4 * PAGE_SIZE + 4000, 5).unwrap();
    copy_between(&mut m, a, &from_a, a, &into_a).unwrap();
    let mut back = [0u8; 5];
    UserSlice::<u8>::new(BASE + 4 * PAGE_SIZE + 4000, 5)
        .unwrap()
        .read_into(&mut m, a, &mut back)
        .unwrap();
    assert_eq!(&back, b"hello");
}

#[test]
fn phys_runs_stop_at_a_gap_a_permission_or_device_memory() {
    let (mut m, root) = FakeMem::new();
    // Two physically consecutive frames, then a device page.
    let f0 = m.alloc_table().unwrap();
    let f1 = m.alloc_table().unwrap();
    assert_eq!(f1, f0 + PAGE_SIZE);
    map_4k(&mut m, root, BASE, f0, USER | WRITABLE).unwrap();
    map_4k(&mut m, root, BASE + PAGE_SIZE, f1, USER | WRITABLE).unwrap();
    map_4k(
        &mut m,
        root,
        BASE + 2 * PAGE_SIZE,
        f1 + PAGE_SIZE,
        USER | WRITABLE | DEVICE,
    )
    .unwrap();
    let s = UserSliceMut::<u8>::new(BASE + 16, 3 * PAGE_SIZE).unwrap();
    assert_eq!(
        s.phys_run(&mut m, root, u64::MAX),
        Ok((f0 + 16, 2 * PAGE_SIZE - 16))
    );
    assert_eq!(s.phys_run(&mut m, root, 100), Ok((f0 + 16, 100)));
    let dev = UserSlice::<u8>::new(BASE + 2 * PAGE_SIZE, 1).unwrap();
    assert_eq!(
        dev.phys_run(&mut m, root, 1),
        Err(UserMemError::Device {
            page: BASE + 2 * PAGE_SIZE
        })
    );
    let (mut m, root) = space();
    let ro = UserSliceMut::<u8>::new(BASE + 2 * PAGE_SIZE, 1).unwrap();
    assert!(matches!(
        ro.phys_run(&mut m, root, 1),
        Err(UserMemError::ReadOnly { .. })
    ));
}

/// Page tables from `FakeMem`, data frames in one flat arena from physical
/// `ARENA` on: physically consecutive frames are consecutive bytes, as in
/// the kernel's direct map (`LINEAR`). Counts the pointers a copy takes
/// (two per piece) and the table entries it reads.
struct FlatMem {
    tables: FakeMem,
    arena: alloc::vec::Vec<u8>,
    pointers: usize,
    table_reads: usize,
}

const ARENA: u64 = 0x1000_0000;
const ARENA_FRAMES: u64 = 64;

impl FlatMem {
    fn new() -> (FlatMem, u64) {
        let (tables, root) = FakeMem::new();
        let arena = (0..ARENA_FRAMES * PAGE_SIZE)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let m = FlatMem {
            tables,
            arena,
            pointers: 0,
            table_reads: 0,
        };
        (m, root)
    }

    /// Maps `frames.len()` pages from `va`, page `i` to arena frame `frames[i]`.
    fn map(&mut self, root: u64, va: u64, frames: &[u64], flags: u64) {
        for (i, f) in frames.iter().enumerate() {
            let frame = ARENA + f * PAGE_SIZE;
            map_4k(
                &mut self.tables,
                root,
                va + i as u64 * PAGE_SIZE,
                frame,
                flags,
            )
            .unwrap();
        }
    }

    /// The bytes `[va, va + len)` of `root`, page by page through `translate`.
    fn bytes(&mut self, root: u64, va: u64, len: u64) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::with_capacity(len as usize);
        let mut a = va;
        while a < va + len {
            let n = (PAGE_SIZE - a % PAGE_SIZE).min(va + len - a);
            let at = (translate(&mut self.tables, root, a).unwrap().paddr - ARENA) as usize;
            out.extend_from_slice(&self.arena[at..at + n as usize]);
            a += n;
        }
        out
    }
}

impl crate::paging::PhysMem for FlatMem {
    fn table(&mut self, phys: u64) -> &mut [u64; 512] {
        self.table_reads += 1;
        self.tables.table(phys)
    }
    fn alloc_table(&mut self) -> Option<u64> {
        self.tables.alloc_table()
    }
}

// Safety: every user leaf of these tests maps an arena frame; the pointer is
// to that byte of the arena, which runs on to the arena's end.
unsafe impl PhysBytes for FlatMem {
    const LINEAR: bool = true;
    fn byte_ptr(&mut self, paddr: u64) -> *mut u8 {
        self.pointers += 1;
        assert!((ARENA..ARENA + ARENA_FRAMES * PAGE_SIZE).contains(&paddr));
        // Safety: inside the arena (asserted).
        unsafe { self.arena.as_mut_ptr().add((paddr - ARENA) as usize) }
    }
}

use crate::paging::translate;

/// Frame layouts of a 6-page buffer: one run, one run backwards (every page
/// its own run), two runs, runs broken by a frame of the other buffer.
const LAYOUTS: [[u64; 6]; 4] = [
    [0, 1, 2, 3, 4, 5],
    [5, 4, 3, 2, 1, 0],
    [0, 1, 2, 4, 5, 6],
    [0, 1, 3, 4, 6, 7],
];

#[test]
fn copy_between_moves_the_bytes_for_any_frame_layout_offset_and_length() {
    let offsets = [0u64, 1, 7, 8, 100, 2048, 4095];
    let lengths = [0u64, 1, 9, 4096, 4097, 8192, 12_000, 4 * 4096 + 5];
    for (si, src_frames) in LAYOUTS.iter().enumerate() {
        for (di, dst_frames) in LAYOUTS.iter().enumerate() {
            // Source frames 8.., destination frames 24..: separate memory.
            let (mut m, a) = FlatMem::new();
            let b = m.tables.alloc_table().unwrap();
            let src: alloc::vec::Vec<u64> = src_frames.iter().map(|f| f + 8).collect();
            let dst: alloc::vec::Vec<u64> = dst_frames.iter().map(|f| f + 24).collect();
            m.map(a, BASE, &src, USER);
            m.map(b, BASE, &dst, USER | WRITABLE);
            for &so in &offsets {
                for &dof in &offsets {
                    for &len in &lengths {
                        if so + len > 6 * PAGE_SIZE || dof + len > 6 * PAGE_SIZE {
                            continue;
                        }
                        let want_dst = {
                            let mut all = m.bytes(b, BASE, 6 * PAGE_SIZE);
                            let from = m.bytes(a, BASE + so, len);
                            all[dof as usize..(dof + len) as usize].copy_from_slice(&from);
                            all
                        };
                        let from = UserSlice::<u8>::new(BASE + so, len).unwrap();
                        let to = UserSliceMut::<u8>::new(BASE + dof, len).unwrap();
                        copy_between(&mut m, a, &from, b, &to).unwrap();
                        assert!(
                            m.bytes(b, BASE, 6 * PAGE_SIZE) == want_dst,
                            "layouts {si}/{di}, offsets {so}/{dof}, length {len}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn copy_between_takes_one_piece_per_physical_run() {
    let (mut m, a) = FlatMem::new();
    let b = m.tables.alloc_table().unwrap();
    m.map(a, BASE, &[0, 1, 2, 3, 4], USER);
    // Two runs: pages 0-2 and 3-5 of the destination.
    m.map(b, BASE, &[10, 11, 12, 20, 21, 22], USER | WRITABLE);
    let len = 4 * PAGE_SIZE;
    let from = UserSlice::<u8>::new(BASE + 16, len).unwrap();
    let to = UserSliceMut::<u8>::new(BASE + 3000, len).unwrap();
    let want = m.bytes(a, BASE + 16, len);
    m.pointers = 0;
    m.table_reads = 0;
    copy_between(&mut m, a, &from, b, &to).unwrap();
    assert!(m.bytes(b, BASE + 3000, len) == want);
    // The destination's run breaks once: two pieces, a pointer pair each
    // (page-bounded pieces were nine: every page boundary of either side).
    assert_eq!(m.pointers, 4);
    // Each side's 5 pages walked twice (the check, then the runs): four
    // levels for the first page, one entry for every other visit; the
    // destination's fourth page once more (where its first run ends, then
    // where the second begins).
    assert_eq!(m.table_reads, (4 + (2 * 5 - 1)) + (4 + 2 * 5));
}

#[test]
fn copy_between_into_its_own_overlapping_run_moves_as_memmove() {
    for (from_off, to_off) in [(100u64, 5000u64), (5000, 100), (8, 0), (0, 8)] {
        let (mut m, a) = FlatMem::new();
        m.map(a, BASE, &[0, 1, 2, 3], USER | WRITABLE);
        let len = 2 * PAGE_SIZE + 77;
        let mut want = m.bytes(a, BASE, 4 * PAGE_SIZE);
        want.copy_within(
            from_off as usize..(from_off + len) as usize,
            to_off as usize,
        );
        let from = UserSlice::<u8>::new(BASE + from_off, len).unwrap();
        let to = UserSliceMut::<u8>::new(BASE + to_off, len).unwrap();
        copy_between(&mut m, a, &from, a, &to).unwrap();
        assert!(
            m.bytes(a, BASE, 4 * PAGE_SIZE) == want,
            "{from_off} -> {to_off}"
        );
    }
}

#[test]
fn a_bad_page_after_a_long_run_stops_the_copy_before_any_byte() {
    let (mut m, a) = FlatMem::new();
    let b = m.tables.alloc_table().unwrap();
    m.map(a, BASE, &[0, 1, 2, 3, 4, 5], USER);
    // The destination's last page is read-only; the rest one writable run.
    m.map(b, BASE, &[10, 11, 12, 13, 14], USER | WRITABLE);
    m.map(b, BASE + 5 * PAGE_SIZE, &[15], USER);
    let before = m.bytes(b, BASE, 6 * PAGE_SIZE);
    let from = UserSlice::<u8>::new(BASE, 6 * PAGE_SIZE).unwrap();
    let to = UserSliceMut::<u8>::new(BASE, 6 * PAGE_SIZE).unwrap();
    assert_eq!(
        copy_between(&mut m, a, &from, b, &to),
        Err(UserMemError::ReadOnly {
            page: BASE + 5 * PAGE_SIZE
        })
    );
    // And an unmapped source page past the end of the source's run.
    let long = UserSlice::<u8>::new(BASE, 7 * PAGE_SIZE).unwrap();
    let into = UserSliceMut::<u8>::new(BASE, 7 * PAGE_SIZE).unwrap();
    assert_eq!(
        copy_between(&mut m, a, &long, b, &into),
        Err(UserMemError::Unmapped {
            page: BASE + 6 * PAGE_SIZE
        })
    );
    assert!(m.bytes(b, BASE, 6 * PAGE_SIZE) == before, "nothing written");
}
