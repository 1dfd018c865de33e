//! GDT and TSS. Selector order is fixed by `syscall`/`sysret`: kernel code
//! 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28.

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot of the double-fault handler's own stack.
pub const DOUBLE_FAULT_IST: u16 = 0;

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<GlobalDescriptorTable> = Once::new();

#[repr(align(16))]
#[allow(dead_code)] // only its address is used
struct Stack([u8; 16384]);
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; 16384]);

pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let trap_top = core::ptr::addr_of!(crate::trap::trap_stack_top) as u64;
        tss.privilege_stack_table[0] = VirtAddr::new(trap_top);
        let df = core::ptr::addr_of!(DOUBLE_FAULT_STACK) as u64;
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = VirtAddr::new(df + 16384);
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        gdt.append(Descriptor::kernel_code_segment());
        gdt.append(Descriptor::kernel_data_segment());
        gdt.append(Descriptor::user_data_segment());
        gdt.append(Descriptor::user_code_segment());
        gdt.append(Descriptor::tss_segment(tss));
        gdt
    });
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
