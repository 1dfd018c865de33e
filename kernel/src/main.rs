#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

mod boot;
mod serial;

#[no_mangle]
pub extern "C" fn kernel_main(start_info_phys: u32) -> ! {
    serial::init();
    log::info!(
        "hello from the kernel, start info at {:#x}",
        start_info_phys
    );
    let si = unsafe {
        &*((0xFFFF_8000_0000_0000u64 + start_info_phys as u64) as *const boot::StartInfo)
    };
    log::info!("{:x?}", si);
    let mods = unsafe {
        core::slice::from_raw_parts(
            (0xFFFF_8000_0000_0000u64 + si.modlist_paddr) as *const boot::ModlistEntry,
            si.nr_modules as usize,
        )
    };
    log::info!("{:x?}", mods);
    unsafe { x86_64::instructions::port::Port::<u32>::new(0xf4).write(0x10) };
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("KERNEL PANIC: {}", info);
    loop {}
}
