//! Spins forever without a syscall: only timer preemption lets anything
//! else run. The boot test starts it first.
#![no_std]
#![no_main]

userlib::entry!(main);

fn main() {
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}
