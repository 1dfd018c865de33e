//! GDT and TSS. Selector order is fixed by `syscall`/`sysret`: kernel code
//! 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28.

use alloc::boxed::Box;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot of the double-fault handler's own stack.
pub const DOUBLE_FAULT_IST: u16 = 0;

const DOUBLE_FAULT_STACK: usize = 16384;

/// Builds and loads this CPU's GDT and TSS (each CPU has its own: the TSS
/// names the CPU's trap stack as rsp0 and its own double-fault stack).
/// Called once per CPU at start; both live for ever (leaked boxes).
pub fn init(trap_stack_top: u64) {
    let df = Box::leak(alloc::vec![0u8; DOUBLE_FAULT_STACK].into_boxed_slice());
    let mut tss = TaskStateSegment::new();
    tss.privilege_stack_table[0] = VirtAddr::new(trap_stack_top);
    tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] =
        VirtAddr::new((df.as_ptr() as u64 + DOUBLE_FAULT_STACK as u64) & !15);
    let tss: &'static TaskStateSegment = Box::leak(Box::new(tss));
    let mut gdt = GlobalDescriptorTable::new();
    gdt.append(Descriptor::kernel_code_segment());
    gdt.append(Descriptor::kernel_data_segment());
    gdt.append(Descriptor::user_data_segment());
    gdt.append(Descriptor::user_code_segment());
    gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = Box::leak(Box::new(gdt));
    gdt.load();
    // Safety: the selectors name the descriptors appended above, in order.
    unsafe {
        CS::set_reg(SegmentSelector(0x08));
        DS::set_reg(SegmentSelector(0x10));
        ES::set_reg(SegmentSelector(0x10));
        SS::set_reg(SegmentSelector(0x10));
        load_tss(SegmentSelector(0x28));
    }
}
