//! Every way into the kernel from a process: the 64 interrupt/exception
//! stubs and the `syscall` entry. Each pushes the same [`TrapFrame`] on the
//! CPU's kernel trap stack and calls `trap_entry`; the way out restores a
//! (possibly different) process's frame and returns with `sysretq` if that
//! process entered through `syscall`, else `iretq`.
//!
//! The kernel is not preemptible: it runs with interrupts off, except in the
//! idle loop, so one trap stack per CPU serves every process (the boot
//! CPU's is `trap_stack` below, the others' are allocated by smp.rs; the
//! TSS's rsp0 and the per-CPU block name it). Entering from ring 3 swaps GS
//! to the CPU's block (`swapgs`), leaving for ring 3 swaps it back; the
//! `syscall` entry finds its stack there (it has no TSS switch).

use core::arch::global_asm;

/// `TrapFrame::vector` of a frame saved by the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 0x100;
pub const USER_CS: u64 = 0x23;
pub const USER_SS: u64 = 0x1b;

/// Saved user registers, in the order the entry stubs push them (lowest
/// address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Vectors with a stub: exceptions, the PIC's 16 lines, the LAPIC's
/// (interrupts.rs names them).
pub const VECTORS: usize = 64;

pub const TRAP_FRAME_SIZE: usize = 22 * 8;
const _: () = assert!(core::mem::size_of::<TrapFrame>() == TRAP_FRAME_SIZE);

extern "C" {
    /// The stub addresses, vector order.
    pub static isr_table: [u64; VECTORS];
    pub static trap_stack_top: u8;
    pub fn syscall_entry();
    /// Loads the frame at `frame` (on the trap stack) and returns to user.
    pub fn trap_return_to(frame: *const TrapFrame) -> !;
}

global_asm!(
    r#"
    .section .text.trap, "ax"
isr_0:
    push 0
    push 0
    jmp trap_common
isr_1:
    push 0
    push 1
    jmp trap_common
isr_2:
    push 0
    push 2
    jmp trap_common
isr_3:
    push 0
    push 3
    jmp trap_common
isr_4:
    push 0
    push 4
    jmp trap_common
isr_5:
    push 0
    push 5
    jmp trap_common
isr_6:
    push 0
    push 6
    jmp trap_common
isr_7:
    push 0
    push 7
    jmp trap_common
isr_8:
    push 8
    jmp trap_common
isr_9:
    push 0
    push 9
    jmp trap_common
isr_10:
    push 10
    jmp trap_common
isr_11:
    push 11
    jmp trap_common
isr_12:
    push 12
    jmp trap_common
isr_13:
    push 13
    jmp trap_common
isr_14:
    push 14
    jmp trap_common
isr_15:
    push 0
    push 15
    jmp trap_common
isr_16:
    push 0
    push 16
    jmp trap_common
isr_17:
    push 17
    jmp trap_common
isr_18:
    push 0
    push 18
    jmp trap_common
isr_19:
    push 0
    push 19
    jmp trap_common
isr_20:
    push 0
    push 20
    jmp trap_common
isr_21:
    push 21
    jmp trap_common
isr_22:
    push 0
    push 22
    jmp trap_common
isr_23:
    push 0
    push 23
    jmp trap_common
isr_24:
    push 0
    push 24
    jmp trap_common
isr_25:
    push 0
    push 25
    jmp trap_common
isr_26:
    push 0
    push 26
    jmp trap_common
isr_27:
    push 0
    push 27
    jmp trap_common
isr_28:
    push 0
    push 28
    jmp trap_common
isr_29:
    push 29
    jmp trap_common
isr_30:
    push 30
    jmp trap_common
isr_31:
    push 0
    push 31
    jmp trap_common
isr_32:
    push 0
    push 32
    jmp trap_common
isr_33:
    push 0
    push 33
    jmp trap_common
isr_34:
    push 0
    push 34
    jmp trap_common
isr_35:
    push 0
    push 35
    jmp trap_common
isr_36:
    push 0
    push 36
    jmp trap_common
isr_37:
    push 0
    push 37
    jmp trap_common
isr_38:
    push 0
    push 38
    jmp trap_common
isr_39:
    push 0
    push 39
    jmp trap_common
isr_40:
    push 0
    push 40
    jmp trap_common
isr_41:
    push 0
    push 41
    jmp trap_common
isr_42:
    push 0
    push 42
    jmp trap_common
isr_43:
    push 0
    push 43
    jmp trap_common
isr_44:
    push 0
    push 44
    jmp trap_common
isr_45:
    push 0
    push 45
    jmp trap_common
isr_46:
    push 0
    push 46
    jmp trap_common
isr_47:
    push 0
    push 47
    jmp trap_common
isr_48:
    push 0
    push 48
    jmp trap_common
isr_49:
    push 0
    push 49
    jmp trap_common
isr_50:
    push 0
    push 50
    jmp trap_common
isr_51:
    push 0
    push 51
    jmp trap_common
isr_52:
    push 0
    push 52
    jmp trap_common
isr_53:
    push 0
    push 53
    jmp trap_common
isr_54:
    push 0
    push 54
    jmp trap_common
isr_55:
    push 0
    push 55
    jmp trap_common
isr_56:
    push 0
    push 56
    jmp trap_common
isr_57:
    push 0
    push 57
    jmp trap_common
isr_58:
    push 0
    push 58
    jmp trap_common
isr_59:
    push 0
    push 59
    jmp trap_common
isr_60:
    push 0
    push 60
    jmp trap_common
isr_61:
    push 0
    push 61
    jmp trap_common
isr_62:
    push 0
    push 62
    jmp trap_common
isr_63:
    push 0
    push 63
    jmp trap_common

trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    /* From ring 3, GS is the process's: swap in the CPU's block (smp.rs).
       The syscall entry swapped already; from ring 0 it is the kernel's. */
    cmp qword ptr [rsp + 15*8], 0x100
    je 7f
    test byte ptr [rsp + 18*8], 3
    jz 7f
    swapgs
7:
    cld
    /* SMAP: ring 3 may have set AC, which would let the kernel touch user
       pages; clear it (clac exists only where SMAP does). */
    cmp byte ptr [rip + SMAP_ON], 0
    je 6f
    clac
6:
    mov rdi, rsp
    call trap_entry
    jmp trap_return

    .global syscall_entry
syscall_entry:
    /* The CPU's block (smp::PerCpu): +8 its trap stack top, +16 scratch. */
    swapgs
    mov gs:[16], rsp
    mov rsp, gs:[8]
    push 0x1b
    push qword ptr gs:[16]
    push r11
    push 0x23
    push rcx
    push 0
    push 0x100
    jmp trap_common

    .global trap_return_to
trap_return_to:
    mov rsp, rdi
trap_return:
    # The flags of this compare choose the way out below: `pop` and `lea`
    # leave flags alone, so the registers are restored once for both ways.
    cmp qword ptr [rsp + 15*8], 0x100
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    lea rsp, [rsp + 16]
    jne 5f
    mov rcx, [rsp]
    mov r11, [rsp + 16]
    mov rsp, [rsp + 24]
    swapgs
    sysretq
5:
    /* Back to ring 3: the process's GS again (the CPU's block to the MSR). */
    test byte ptr [rsp + 8], 3
    jz 8f
    swapgs
8:
    iretq

    .section .rodata.isr_table, "a"
    .balign 8
    .global isr_table
isr_table:
    .quad isr_0
    .quad isr_1
    .quad isr_2
    .quad isr_3
    .quad isr_4
    .quad isr_5
    .quad isr_6
    .quad isr_7
    .quad isr_8
    .quad isr_9
    .quad isr_10
    .quad isr_11
    .quad isr_12
    .quad isr_13
    .quad isr_14
    .quad isr_15
    .quad isr_16
    .quad isr_17
    .quad isr_18
    .quad isr_19
    .quad isr_20
    .quad isr_21
    .quad isr_22
    .quad isr_23
    .quad isr_24
    .quad isr_25
    .quad isr_26
    .quad isr_27
    .quad isr_28
    .quad isr_29
    .quad isr_30
    .quad isr_31
    .quad isr_32
    .quad isr_33
    .quad isr_34
    .quad isr_35
    .quad isr_36
    .quad isr_37
    .quad isr_38
    .quad isr_39
    .quad isr_40
    .quad isr_41
    .quad isr_42
    .quad isr_43
    .quad isr_44
    .quad isr_45
    .quad isr_46
    .quad isr_47
    .quad isr_48
    .quad isr_49
    .quad isr_50
    .quad isr_51
    .quad isr_52
    .quad isr_53
    .quad isr_54
    .quad isr_55
    .quad isr_56
    .quad isr_57
    .quad isr_58
    .quad isr_59
    .quad isr_60
    .quad isr_61
    .quad isr_62
    .quad isr_63

    .section .bss.trap_stack, "aw", @nobits
    .balign 16
trap_stack:
    .space 65536
    .global trap_stack_top
trap_stack_top:
"#
);
