//! Console output through `CONSOLE_WRITE`: `print!`/`println!` format into a
//! small buffer and write it in one syscall per line (so lines from different
//! processes do not interleave mid-line).

use core::fmt::{self, Write};

struct LineBuf {
    buf: [u8; 256],
    len: usize,
}

impl LineBuf {
    fn flush(&mut self) {
        if self.len > 0 {
            let _ = crate::sys::console_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

pub fn print(args: fmt::Arguments) {
    let mut line = LineBuf {
        buf: [0; 256],
        len: 0,
    };
    let _ = line.write_fmt(args);
    line.flush();
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
