//! The ring-3 runtime every service links against: syscall wrappers
//! ([`sys`]), typed IPC clients and servers ([`ipc`]), a heap that grows
//! through `MEM_ALLOC` ([`heap`]), console output ([`println!`]), a panic
//! handler that reports and exits, and the [`entry!`] macro.
//!
//! Design principles:
//! - A new service is a page of code: `userlib::entry!(main);`, a protocol
//!   declared once with `abi::protocol!`, a loop over [`ipc::recv`].
//! - Every syscall wrapper returns `Result<_, abi::Error>`; nothing here
//!   panics on a kernel error.
#![no_std]

extern crate alloc;
// Linked for its `memcpy`/`memmove`/`memset` symbols (tuned for QEMU TCG,
// docs/speed.md): nothing names the crate, so without this it would not be
// linked and compiler-builtins' `rep movsq` versions would be used.
extern crate tcgmem;

pub mod console;
pub mod heap;
pub mod ipc;
pub mod sys;

pub use abi;
pub use abi::{Error, Message};

/// Name of the running program (set by [`entry!`]), for panic reports.
pub static mut PROGRAM_NAME: &str = "?";

/// The `arg=` value of this process's boot configuration line (set by
/// [`entry!`] from the first argument register the kernel passes).
pub static mut BOOT_ARG: u64 = 0;

pub fn boot_arg() -> u64 {
    // Safety: written once by `entry!` before main runs, then only read.
    unsafe { BOOT_ARG }
}

/// Defines the program's `_start`: records the program name and boot
/// argument, runs `main`, exits with code 0 when it returns.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        pub extern "C" fn _start(boot_arg: u64) -> ! {
            // Safety: set once, before anything reads them, single-threaded.
            unsafe {
                $crate::PROGRAM_NAME = env!("CARGO_BIN_NAME");
                $crate::BOOT_ARG = boot_arg;
            }
            let main: fn() = $main;
            main();
            $crate::sys::exit(0)
        }
    };
}

/// Exit code of a process that panicked.
pub const PANIC_EXIT_CODE: u64 = 0xDEAD;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // Safety: written once by `entry!` before main runs.
    let name = unsafe { PROGRAM_NAME };
    match info.location() {
        Some(at) => println!(
            "{}: panic at {}:{}: {}",
            name,
            at.file(),
            at.line(),
            info.message()
        ),
        None => println!("{}: panic: {}", name, info.message()),
    }
    sys::exit(PANIC_EXIT_CODE)
}
