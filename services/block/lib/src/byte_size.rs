//! A byte count in plain words for messages: "812 bytes", "12.3 MiB".
//!
//! Here, in the lowest storage crate, because every layer above it names
//! sizes in its errors and reports (the fs library's quota errors, fs-api's
//! wire error) and all of them depend on this crate.

use core::fmt;

/// `n` bytes that read plainly: whole bytes below 1 KiB, otherwise one
/// decimal (rounded down) of the largest binary unit up to PiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if self.0 < 1024 {
            return write!(f, "{} bytes", self.0);
        }
        let mut unit = 1024u128;
        let mut i = 0;
        while i + 1 < UNITS.len() && u128::from(self.0) >= unit * 1024 {
            unit *= 1024;
            i += 1;
        }
        let tenths = u128::from(self.0) * 10 / unit;
        write!(f, "{}.{} {}", tenths / 10, tenths % 10, UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;
    use alloc::string::ToString;

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(ByteSize(0).to_string(), "0 bytes");
        assert_eq!(ByteSize(812).to_string(), "812 bytes");
        assert_eq!(ByteSize(1024).to_string(), "1.0 KiB");
        assert_eq!(ByteSize(10 << 20).to_string(), "10.0 MiB");
        assert_eq!(ByteSize(12_897_485).to_string(), "12.3 MiB");
        assert_eq!(ByteSize(3 << 30).to_string(), "3.0 GiB");
        assert_eq!(ByteSize(u64::MAX).to_string(), "16383.9 PiB");
    }
}
