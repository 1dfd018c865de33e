//! PVH entry: QEMU's `-kernel` jumps to `pvh_start` in 32-bit protected mode
//! with paging off and `%ebx` = physical address of `hvm_start_info`.
//!
//! The trampoline builds boot page tables that map the first 1 GiB three
//! times (identity, the direct map at `PHYS_OFFSET`, the kernel image at
//! `KERNEL_VMA`) with 2 MiB pages, enables long mode and jumps to
//! `kernel_main(start_info_phys)` in the higher half. `memory::init` later
//! replaces these tables with the real ones.

use core::arch::global_asm;

/// The long-mode switch both entries make, as assembly text: this file's
/// PVH entry and the APs' trampoline (smp.rs), in 32-bit protected mode
/// with paging off and CR3 loaded. PAE and global pages on, EFER.LME|NXE|
/// SCE, paging and write-protect on; a far jump to the 64-bit code
/// segment (selector 0x08 of `long_mode_gdt!`) must follow. Clobbers
/// eax, ecx, edx.
macro_rules! long_mode_on {
    () => {
        r#"
    mov eax, cr4
    or eax, 0xA0
    mov cr4, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x901
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax
"#
    };
}
pub(crate) use long_mode_on;

/// The GDT entries both entries start with, as assembly text: null, 0x08
/// the 64-bit kernel code, 0x10 flat data (the trampoline adds 0x18, the
/// 32-bit code its real-mode start jumps to).
macro_rules! long_mode_gdt {
    () => {
        r#"
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
"#
    };
}
pub(crate) use long_mode_gdt;

// The ELF note that makes QEMU boot us through PVH (XEN_ELFNOTE_PHYS32_ENTRY).
global_asm!(
    r#"
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long pvh_start
    .balign 4
    .popsection
"#
);

global_asm!(
    r#"
    .pushsection .boot.text, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov esp, offset boot_stack_top
    mov edi, ebx

    /* PD: 512 x 2 MiB pages covering the first 1 GiB (present|write|huge). */
    mov ecx, 0
2:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov [boot_pd + ecx*8], eax
    mov dword ptr [boot_pd + ecx*8 + 4], 0
    inc ecx
    cmp ecx, 512
    jne 2b

    mov eax, offset boot_pd
    or eax, 3
    mov [boot_pdpt_low], eax
    mov [boot_pdpt_high + 510*8], eax
    mov eax, offset boot_pdpt_low
    or eax, 3
    mov [boot_pml4], eax
    mov [boot_pml4 + 256*8], eax
    mov eax, offset boot_pdpt_high
    or eax, 3
    mov [boot_pml4 + 511*8], eax

    mov eax, offset boot_pml4
    mov cr3, eax
"#,
    long_mode_on!(),
    r#"
    lgdt [boot_gdt_ptr]
    /* jmp far 0x08:boot_long_mode (encoded by hand: ptr16:32 form) */
    .byte 0xEA
    .long boot_long_mode
    .word 0x08

    .code64
boot_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    movabs rsp, offset kernel_boot_stack_top
    movabs rax, offset kernel_main
    call rax
4:
    hlt
    jmp 4b

    .balign 8
boot_gdt:
"#,
    long_mode_gdt!(),
    r#"
boot_gdt_ptr:
    .word 23
    .long boot_gdt

    .pushsection .boot.data, "aw"
    .balign 4096
    .global boot_pml4
boot_pml4:
    .space 4096
boot_pdpt_low:
    .space 4096
boot_pdpt_high:
    .space 4096
boot_pd:
    .space 4096
boot_stack:
    .space 4096
boot_stack_top:
    .popsection
    .popsection

    .pushsection .bss.kernel_boot_stack, "aw", @nobits
    .balign 16
    .global kernel_boot_stack_top
kernel_boot_stack:
    .space 65536
kernel_boot_stack_top:
    .popsection
"#
);

/// `hvm_start_info` from the Xen PVH ABI (version 1), as QEMU fills it in.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}

/// One `hvm_memmap_table_entry` (E820 types: 1 = usable RAM).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}

/// One `hvm_modlist_entry`: a boot module (QEMU's `-initrd`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModlistEntry {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}

pub const START_INFO_MAGIC: u32 = 0x336e_c578;
