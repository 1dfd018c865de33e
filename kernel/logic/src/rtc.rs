//! The CMOS real-time clock's date, as read once at boot: register values
//! to seconds since the Unix epoch (UTC; QEMU's RTC runs in UTC by
//! default). Pure, so it is tested on the host; the port reads are in
//! `kernel/src/rtc.rs`.

/// Raw RTC registers: seconds, minutes, hours, day of month, month, year
/// (two digits), and status register B (bit 2: binary, bit 1: 24-hour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    pub second: u8,
    pub minute: u8,
    pub hour: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    pub status_b: u8,
}

const BINARY: u8 = 1 << 2;
const HOURS_24: u8 = 1 << 1;
const PM: u8 = 0x80;

fn bcd(v: u8) -> Option<u8> {
    let (hi, lo) = (v >> 4, v & 0x0F);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian; Howard Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch, or `None` when a register is out of range (a
/// clock that reads garbage gives no time rather than a wrong one).
pub fn unix_seconds(r: &RtcRegisters) -> Option<u64> {
    let conv = |v: u8| {
        if r.status_b & BINARY != 0 {
            Some(v)
        } else {
            bcd(v)
        }
    };
    let pm = r.status_b & HOURS_24 == 0 && r.hour & PM != 0;
    let mut hour = conv(r.hour & !PM)?;
    if r.status_b & HOURS_24 == 0 {
        // 12-hour clock: 12 AM is 0, 12 PM is 12.
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let (second, minute) = (conv(r.second)?, conv(r.minute)?);
    let (day, month, year) = (conv(r.day)?, conv(r.month)?, conv(r.year)?);
    if second > 59 || minute > 59 || hour > 23 || !(1..=31).contains(&day) {
        return None;
    }
    if !(1..=12).contains(&month) || year > 99 {
        return None;
    }
    let days = days_from_civil(2000 + year as i64, month as i64, day as i64);
    let secs = days * 86_400 + hour as i64 * 3600 + minute as i64 * 60 + second as i64;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(bcd_time: [u8; 6], status_b: u8) -> RtcRegisters {
        let [second, minute, hour, day, month, year] = bcd_time;
        RtcRegisters {
            second,
            minute,
            hour,
            day,
            month,
            year,
            status_b,
        }
    }

    #[test]
    fn bcd_24_hour_date_is_the_right_epoch_second() {
        // 2026-11-29 15:15:29 UTC = 1795965329.
        let r = regs([0x29, 0x15, 0x15, 0x29, 0x11, 0x26], HOURS_24);
        assert_eq!(unix_seconds(&r), Some(1_795_965_329));
        // 2000-01-01 00:00:00 UTC = 946684800.
        let r = regs([0, 0, 0, 1, 1, 0], HOURS_24);
        assert_eq!(unix_seconds(&r), Some(946_684_800));
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let r = regs([29, 15, 15, 29, 11, 26], HOURS_24 | BINARY);
        assert_eq!(unix_seconds(&r), Some(1_795_965_329));
        // 3 PM on a 12-hour clock.
        let r = regs([0x29, 0x15, 0x03 | PM, 0x29, 0x11, 0x26], 0);
        assert_eq!(unix_seconds(&r), Some(1_795_965_329));
        // 12 AM is midnight.
        let r = regs([0, 0, 0x12, 1, 1, 0], 0);
        assert_eq!(unix_seconds(&r), Some(946_684_800));
    }

    #[test]
    fn garbage_registers_give_no_time() {
        assert_eq!(unix_seconds(&regs([0x99, 0, 0, 1, 1, 0], HOURS_24)), None);
        assert_eq!(unix_seconds(&regs([0, 0, 0x24, 1, 1, 0], HOURS_24)), None);
        assert_eq!(unix_seconds(&regs([0, 0, 0, 0, 1, 0], HOURS_24)), None);
        assert_eq!(unix_seconds(&regs([0, 0, 0, 1, 0x13, 0], HOURS_24)), None);
        assert_eq!(unix_seconds(&regs([0xFA, 0, 0, 1, 1, 0], HOURS_24)), None);
    }
}
