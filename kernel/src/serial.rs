//! COM1 (16550 UART at 0x3F8): kernel log output through the `log` crate, and
//! the console input ring that the console-owning process reads through the
//! `CONSOLE_READ` syscall (filled by the COM1 interrupt, IRQ 4).

use core::fmt::{self, Write};
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;

/// The UART registers we use (offsets from the base port).
struct Uart {
    data: Port<u8>,
    int_enable: Port<u8>,
    fifo_ctrl: Port<u8>,
    line_ctrl: Port<u8>,
    modem_ctrl: Port<u8>,
    line_status: Port<u8>,
}

impl Uart {
    const fn new(base: u16) -> Self {
        Uart {
            data: Port::new(base),
            int_enable: Port::new(base + 1),
            fifo_ctrl: Port::new(base + 2),
            line_ctrl: Port::new(base + 3),
            modem_ctrl: Port::new(base + 4),
            line_status: Port::new(base + 5),
        }
    }

    /// Programs the UART; returns a byte that was already received.
    fn init(&mut self) -> Option<u8> {
        let mut early = None;
        // Safety: COM1 exists on q35 and only the kernel touches these ports.
        unsafe {
            self.int_enable.write(0x00);
            self.line_ctrl.write(0x80); // DLAB on: set the divisor
            self.data.write(0x01); // 115200 baud
            self.int_enable.write(0x00);
            // 8N1, DLAB off.
            self.line_ctrl.write(0x03);
            // FIFOs stay off. Turning them on clears the receive buffer (QEMU
            // resets both FIFOs whenever the enable bit changes), which raced
            // with piped input and lost bytes ("help" arrived as "hlp"). In
            // 16450 mode QEMU holds further input until the one-byte buffer
            // is read, so nothing is lost, at one interrupt per byte.
            if self.line_status.read() & 0x01 != 0 {
                early = Some(self.data.read());
            }
            self.fifo_ctrl.write(0x00);
            self.modem_ctrl.write(0x0B); // DTR, RTS, OUT2 (OUT2 gates the IRQ line)
            self.int_enable.write(0x01); // interrupt on received data
        }
        early
    }

    fn send(&mut self, byte: u8) {
        // Safety: reading the line status and writing the data port of COM1.
        unsafe {
            while self.line_status.read() & 0x20 == 0 {
                core::hint::spin_loop();
            }
            self.data.write(byte);
        }
    }

    /// Enables or masks the received-data interrupt. Unmasking while a byte
    /// waits raises the interrupt again.
    fn set_receive_interrupt(&mut self, on: bool) {
        // Safety: writing COM1's interrupt-enable register.
        unsafe { self.int_enable.write(u8::from(on)) }
    }

    fn try_receive(&mut self) -> Option<u8> {
        // Safety: reading COM1's line status and data registers.
        unsafe {
            if self.line_status.read() & 0x01 != 0 {
                Some(self.data.read())
            } else {
                None
            }
        }
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.send(b'\r');
            }
            self.send(b);
        }
        Ok(())
    }
}

static UART: Mutex<Uart> = Mutex::new(Uart::new(COM1));

/// Bytes received on COM1 and not yet read by the console process. When the
/// ring is full the next byte stays in the UART and the receive interrupt is
/// masked until the console process drains the ring: QEMU then holds further
/// input back, so piped input is never lost (bounded memory, back-pressure).
struct InputRing {
    buf: [u8; 4096],
    head: usize,
    len: usize,
}

static INPUT: Mutex<InputRing> = Mutex::new(InputRing {
    buf: [0; 4096],
    head: 0,
    len: 0,
});

pub fn init() {
    if let Some(b) = UART.lock().init() {
        let mut input = INPUT.lock();
        input.buf[0] = b;
        input.len = 1;
    }
    log::set_logger(&LOGGER).ok();
    log::set_max_level(log::LevelFilter::Info);
}

/// Raw bytes to the console (user `CONSOLE_WRITE`), `\n` becomes `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    let mut uart = UART.lock();
    for &b in bytes {
        if b == b'\n' {
            uart.send(b'\r');
        }
        uart.send(b);
    }
}

pub fn print(args: fmt::Arguments) {
    // Writing to the UART cannot fail.
    let _ = UART.lock().write_fmt(args);
}

/// COM1 interrupt: move every received byte into the input ring. Returns
/// true when at least one byte arrived.
pub fn on_interrupt() -> bool {
    let mut uart = UART.lock();
    let mut input = INPUT.lock();
    let mut got = false;
    while input.len < input.buf.len() {
        let Some(b) = uart.try_receive() else { break };
        got = true;
        let tail = (input.head + input.len) % input.buf.len();
        input.buf[tail] = b;
        input.len += 1;
    }
    // Full: stop taking interrupts (the byte waits in the UART) until
    // `read_input` makes room.
    uart.set_receive_interrupt(input.len < input.buf.len());
    got
}

/// Moves up to `out.len()` buffered input bytes into `out`.
pub fn read_input(out: &mut [u8]) -> usize {
    // Polling as well as the IRQ: a byte that raced the IRQ enable is not lost.
    on_interrupt();
    let mut input = INPUT.lock();
    let n = out.len().min(input.len);
    for slot in out.iter_mut().take(n) {
        *slot = input.buf[input.head];
        input.head = (input.head + 1) % input.buf.len();
        input.len -= 1;
    }
    let room = input.len < input.buf.len();
    drop(input);
    // Room again: unmask the receive interrupt, and nothing more. A byte
    // waiting in the UART raises the interrupt at once, and only the
    // interrupt path posts the console notification. Bytes taken here,
    // after the drain, would sit in the ring with nobody told: the shell
    // would sleep on them (this hung piped input mid-line).
    if room {
        UART.lock().set_receive_interrupt(true);
    }
    n
}

#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => { $crate::serial::print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct SerialLogger;
static LOGGER: SerialLogger = SerialLogger;

impl log::Log for SerialLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        print(format_args!("[{:5}] {}\n", record.level(), record.args()));
    }
    fn flush(&self) {}
}
