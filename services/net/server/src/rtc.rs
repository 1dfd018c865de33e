//! The timer: the CMOS RTC's periodic interrupt (ports 0x70/0x71, IRQ 8,
//! granted by `ioport=0x70:2 irq=8`). The kernel offers no timeouts, and
//! smoltcp needs a wake-up for retransmissions and close timeouts.

use userlib::sys;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
const IRQ: u64 = 8;
const BIT: u64 = 1 << 8;
/// Register A rate codes (32768 >> (rate - 1) Hz); 0 = interrupt off.
pub const FAST: u8 = 10; // 64 Hz
pub const SLOW: u8 = 15; // 2 Hz
pub const OFF: u8 = 0;

pub struct Timer {
    /// Interrupts served.
    pub interrupts: u64,
    ok: bool,
    rate: u8,
}

fn read(reg: u64) -> u64 {
    // Bit 7 of the index keeps NMIs masked, as the firmware leaves them.
    let _ = sys::port_out(INDEX, 1, 0x80 | reg);
    sys::port_in(DATA, 1).unwrap_or(0)
}

fn write(reg: u64, value: u64) {
    let _ = sys::port_out(INDEX, 1, 0x80 | reg);
    let _ = sys::port_out(DATA, 1, value);
}

impl Timer {
    /// Binds IRQ 8; without the grant the service runs without a timer.
    pub fn new() -> Timer {
        let ok = sys::irq_bind(IRQ, BIT).is_ok() && sys::port_in(DATA, 1).is_ok();
        Timer {
            interrupts: 0,
            ok,
            rate: OFF,
        }
    }

    pub fn ok(&self) -> bool {
        self.ok
    }

    /// The notification bit of the timer (0 without one).
    pub fn bit(&self) -> u64 {
        if self.ok {
            BIT
        } else {
            0
        }
    }

    pub fn set(&mut self, rate: u8) {
        if !self.ok || rate == self.rate {
            return;
        }
        let b = read(0x0B);
        if rate == OFF {
            write(0x0B, b & !0x40);
        } else {
            let a = read(0x0A);
            write(0x0A, (a & 0xF0) | rate as u64);
            write(0x0B, b | 0x40);
        }
        // Reading register C clears a pending interrupt flag.
        read(0x0C);
        self.rate = rate;
    }

    /// Serves an interrupt: register C tells the RTC it was seen.
    pub fn ack(&mut self) {
        self.interrupts += 1;
        read(0x0C);
        let _ = sys::irq_ack(IRQ);
    }
}
