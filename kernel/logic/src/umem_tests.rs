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
