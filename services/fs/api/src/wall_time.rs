//! Wall-clock seconds as people read them.
//!
//! The fs service stamps files (`mtime`) and snapshots (`created`) with the
//! RTC's seconds since 1970-01-01 UTC. Shown raw (`1796026870`) they mean
//! nothing at the console, so listings print them through [`WallTime`]:
//! `2026-11-30 08:21:10 UTC`. The calendar arithmetic is the `time`
//! crate's.

use core::fmt;

use time::OffsetDateTime;

/// Seconds since the Unix epoch, displayed as a UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime(pub u64);

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = i64::try_from(self.0)
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
        match at {
            Some(t) => write!(
                f,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            // Past year 9999: not a date the RTC gives; show the number.
            None => write!(f, "{} s after the epoch", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::WallTime;
    use std::string::ToString;

    #[test]
    fn epoch_leap_day_and_a_known_stamp() {
        assert_eq!(WallTime(0).to_string(), "1970-01-01 00:00:00 UTC");
        // 2024-02-29 12:34:56 UTC.
        assert_eq!(
            WallTime(1_709_210_096).to_string(),
            "2024-02-29 12:34:56 UTC"
        );
        assert_eq!(
            WallTime(1_796_026_870).to_string(),
            "2026-11-30 08:21:10 UTC"
        );
    }

    #[test]
    fn seconds_past_any_calendar_date_print_as_a_number() {
        assert_eq!(
            WallTime(u64::MAX).to_string(),
            "18446744073709551615 s after the epoch"
        );
    }
}
