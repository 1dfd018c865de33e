//! Turns a service's ELF executable into a loading plan: which user pages to
//! map with which permissions and which file bytes go where. The kernel then
//! only allocates frames and copies; every check happens here.
//!
//! Parsing uses the `xmas-elf` crate; the bounds of the program header table
//! and of each segment are checked here before any of it is touched.

use crate::layout::{page_ceil, page_floor, USER_IMAGE_END, USER_MIN};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use xmas_elf::header::{Class, Machine, Type as ElfType};
use xmas_elf::program::Type;
use xmas_elf::ElfFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The header could not be parsed (xmas-elf's reason).
    Header(&'static str),
    /// Not a 64-bit x86-64 executable.
    WrongKind,
    /// The program header table lies outside the file.
    ProgramHeadersOutOfFile {
        offset: u64,
        count: u16,
        entry_size: u16,
        file_len: u64,
    },
    /// A segment's file bytes lie outside the file, or file size > memory size.
    SegmentOutOfFile {
        index: u16,
        offset: u64,
        file_size: u64,
        mem_size: u64,
    },
    /// A segment's addresses are outside the user image range.
    SegmentOutOfRange {
        index: u16,
        vaddr: u64,
        mem_size: u64,
    },
    /// The entry point is in no executable segment.
    BadEntry(u64),
    /// A segment is larger than `MAX_SEGMENT_SIZE`.
    SegmentTooLarge { index: u16, mem_size: u64 },
    /// The file does not start at an 8-byte aligned address.
    Misaligned(usize),
    /// No loadable segment.
    Empty,
}

/// One PT_LOAD segment, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    /// Byte range of the file copied to `vaddr..vaddr + file_size`; the rest
    /// up to `mem_size` is zero.
    pub file_offset: u64,
    pub file_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// One user page to map, with the union of the permissions of the segments
/// that touch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagePlan {
    pub vaddr: u64,
    pub writable: bool,
    pub executable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// Sorted by address, no duplicates.
    pub pages: Vec<PagePlan>,
}

const PH_ENTRY_SIZE: u16 = 56;
/// Bounds the pages one segment can ask for (and the work of planning it).
pub const MAX_SEGMENT_SIZE: u64 = 64 << 20;

pub fn plan(file: &[u8]) -> Result<LoadPlan, ElfError> {
    // xmas-elf reads headers in place and asserts their alignment.
    if !(file.as_ptr() as usize).is_multiple_of(8) {
        return Err(ElfError::Misaligned(file.as_ptr() as usize));
    }
    let elf = ElfFile::new(file).map_err(ElfError::Header)?;
    let h = &elf.header;
    if h.pt1.class() != Class::SixtyFour
        || h.pt2.machine().as_machine() != Machine::X86_64
        || h.pt2.type_().as_type() != ElfType::Executable
    {
        return Err(ElfError::WrongKind);
    }
    let (ph_off, ph_count, ph_size) = (h.pt2.ph_offset(), h.pt2.ph_count(), h.pt2.ph_entry_size());
    let table_end = (ph_count as u64)
        .checked_mul(ph_size as u64)
        .and_then(|n| n.checked_add(ph_off));
    if ph_size != PH_ENTRY_SIZE
        || !ph_off.is_multiple_of(8)
        || table_end.is_none_or(|end| end > file.len() as u64)
    {
        return Err(ElfError::ProgramHeadersOutOfFile {
            offset: ph_off,
            count: ph_count,
            entry_size: ph_size,
            file_len: file.len() as u64,
        });
    }

    let mut segments = Vec::new();
    for index in 0..ph_count {
        let ph = elf.program_header(index).map_err(ElfError::Header)?;
        if ph.get_type() != Ok(Type::Load) || ph.mem_size() == 0 {
            continue;
        }
        let (offset, file_size, mem_size, vaddr) = (
            ph.offset(),
            ph.file_size(),
            ph.mem_size(),
            ph.virtual_addr(),
        );
        let in_file = offset
            .checked_add(file_size)
            .is_some_and(|end| end <= file.len() as u64);
        if !in_file || file_size > mem_size {
            return Err(ElfError::SegmentOutOfFile {
                index,
                offset,
                file_size,
                mem_size,
            });
        }
        let in_range = vaddr
            .checked_add(mem_size)
            .and_then(page_ceil)
            .is_some_and(|end| end <= USER_IMAGE_END);
        if vaddr < USER_MIN || !in_range {
            return Err(ElfError::SegmentOutOfRange {
                index,
                vaddr,
                mem_size,
            });
        }
        if mem_size > MAX_SEGMENT_SIZE {
            return Err(ElfError::SegmentTooLarge { index, mem_size });
        }
        let flags = ph.flags();
        segments.push(Segment {
            vaddr,
            mem_size,
            file_offset: offset,
            file_size,
            writable: flags.is_write(),
            executable: flags.is_execute(),
        });
    }
    if segments.is_empty() {
        return Err(ElfError::Empty);
    }
    let entry = h.pt2.entry_point();
    if !segments
        .iter()
        .any(|s| s.executable && entry >= s.vaddr && entry < s.vaddr + s.mem_size)
    {
        return Err(ElfError::BadEntry(entry));
    }

    let mut pages: BTreeMap<u64, PagePlan> = BTreeMap::new();
    for s in &segments {
        // In range: checked above.
        let end = page_ceil(s.vaddr + s.mem_size).unwrap_or(USER_IMAGE_END);
        let mut va = page_floor(s.vaddr);
        while va < end {
            let p = pages.entry(va).or_insert(PagePlan {
                vaddr: va,
                writable: false,
                executable: false,
            });
            p.writable |= s.writable;
            p.executable |= s.executable;
            va += 4096;
        }
    }
    let pages = pages.into_values().collect();
    Ok(LoadPlan {
        entry,
        segments,
        pages,
    })
}

#[cfg(test)]
pub mod testelf {
    //! Builds minimal ELF64 executables for tests.

    pub struct Seg {
        pub vaddr: u64,
        pub data: Vec<u8>,
        pub mem_size: u64,
        /// PF_X = 1, PF_W = 2, PF_R = 4.
        pub flags: u32,
    }

    pub fn build(entry: u64, segs: &[Seg]) -> Vec<u8> {
        let ph_off = 64u64;
        let data_start = ph_off + 56 * segs.len() as u64;
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&ph_off.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&(segs.len() as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        assert_eq!(out.len(), 64);
        let mut off = data_start;
        for s in segs {
            out.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            out.extend_from_slice(&s.flags.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&s.vaddr.to_le_bytes());
            out.extend_from_slice(&s.vaddr.to_le_bytes());
            out.extend_from_slice(&(s.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&s.mem_size.to_le_bytes());
            out.extend_from_slice(&4096u64.to_le_bytes());
            off += s.data.len() as u64;
        }
        for s in segs {
            out.extend_from_slice(&s.data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testelf::{build, Seg};
    use super::*;

    fn two_segments() -> Vec<u8> {
        build(
            0x40_1000,
            &[
                Seg {
                    vaddr: 0x40_1000,
                    data: vec![0x90; 100],
                    mem_size: 100,
                    flags: 5,
                },
                // data + bss sharing the text's last page? no: starts mid-page 0x40_2800
                Seg {
                    vaddr: 0x40_2800,
                    data: vec![1; 0x10],
                    mem_size: 0x2000,
                    flags: 6,
                },
            ],
        )
    }

    #[test]
    fn plan_lists_segments_and_pages_with_permissions() {
        let p = plan(&two_segments()).unwrap();
        assert_eq!(p.entry, 0x40_1000);
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[1].file_size, 0x10);
        assert_eq!(p.segments[1].mem_size, 0x2000);
        let vas: Vec<u64> = p.pages.iter().map(|p| p.vaddr).collect();
        assert_eq!(vas, vec![0x40_1000, 0x40_2000, 0x40_3000, 0x40_4000]);
        assert!(p.pages[0].executable && !p.pages[0].writable);
        assert!(p.pages[1].writable && !p.pages[1].executable);
    }

    #[test]
    fn segments_sharing_a_page_get_the_union_of_permissions() {
        let f = build(
            0x40_0000,
            &[
                Seg {
                    vaddr: 0x40_0000,
                    data: vec![0; 0x10],
                    mem_size: 0x10,
                    flags: 5,
                },
                Seg {
                    vaddr: 0x40_0800,
                    data: vec![0; 0x10],
                    mem_size: 0x10,
                    flags: 6,
                },
            ],
        );
        let p = plan(&f).unwrap();
        assert_eq!(
            p.pages,
            vec![PagePlan {
                vaddr: 0x40_0000,
                writable: true,
                executable: true
            }]
        );
    }

    #[test]
    fn bad_files_are_errors_naming_what_was_seen() {
        // A heap copy: static byte strings need not be 8-byte aligned.
        let not_elf: Vec<u8> = b"not an elf".to_vec();
        assert!(matches!(plan(&not_elf), Err(ElfError::Header(_))));
        let good = two_segments();
        // Truncated: segment data missing.
        assert!(matches!(
            plan(&good[..good.len() - 8]),
            Err(ElfError::SegmentOutOfFile { index: 1, .. })
        ));
        // Program header table beyond the file.
        assert!(matches!(
            plan(&good[..100]),
            Err(ElfError::ProgramHeadersOutOfFile { count: 2, .. })
        ));
        // Kernel-half address.
        let k = build(
            0xFFFF_8000_0000_0000,
            &[Seg {
                vaddr: 0xFFFF_8000_0000_0000,
                data: vec![0; 4],
                mem_size: 4,
                flags: 5,
            }],
        );
        assert!(matches!(
            plan(&k),
            Err(ElfError::SegmentOutOfRange { index: 0, .. })
        ));
        // Wrapping size.
        let w = build(
            0x40_0000,
            &[Seg {
                vaddr: 0x40_0000,
                data: vec![],
                mem_size: u64::MAX,
                flags: 5,
            }],
        );
        assert!(matches!(plan(&w), Err(ElfError::SegmentOutOfRange { .. })));
        let big = build(
            0x40_0000,
            &[Seg {
                vaddr: 0x40_0000,
                data: vec![],
                mem_size: 1 << 40,
                flags: 5,
            }],
        );
        assert_eq!(
            plan(&big),
            Err(ElfError::SegmentTooLarge {
                index: 0,
                mem_size: 1 << 40
            })
        );
        // Null page.
        let n = build(
            0x0,
            &[Seg {
                vaddr: 0,
                data: vec![0; 4],
                mem_size: 4,
                flags: 5,
            }],
        );
        assert!(matches!(plan(&n), Err(ElfError::SegmentOutOfRange { .. })));
        // Entry in a non-executable segment.
        let e = build(
            0x40_0000,
            &[Seg {
                vaddr: 0x40_0000,
                data: vec![0; 4],
                mem_size: 4,
                flags: 6,
            }],
        );
        assert_eq!(plan(&e), Err(ElfError::BadEntry(0x40_0000)));
        let mut bad = good.clone();
        bad[18] = 3; // EM_386
        assert_eq!(plan(&bad), Err(ElfError::WrongKind));
    }

    #[test]
    fn random_corruption_never_panics() {
        let good = two_segments();
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            let mut f = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % f.len() as u64) as usize;
                f[i] = (seed >> 32) as u8;
            }
            let _ = plan(&f);
        }
    }
}
