//! Dies at once in the way its boot argument selects, so the fault test can
//! check that each kind of fault ends only this process, with a report:
//! 0 = #DE (divide by zero), 1 = #GP (privileged instruction), 2 = #UD,
//! 3 = a Rust panic (userlib's handler reports it and exits 0xDEAD).
#![no_std]
#![no_main]

userlib::entry!(main);

fn main() {
    match userlib::boot_arg() {
        // Safety: a deliberate divide by zero; the kernel ends this process.
        0 => unsafe {
            core::arch::asm!("xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _)
        },
        // Safety: a privileged instruction in ring 3 faults; we end here.
        1 => unsafe { core::arch::asm!("hlt") },
        // Safety: an undefined instruction; the kernel ends this process.
        2 => unsafe { core::arch::asm!("ud2") },
        n => panic!("crasher asked to panic (arg {n})"),
    }
}
