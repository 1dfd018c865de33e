//! Byte sources for streaming writes (`no_std` has no `std::io::Read`).

use alloc::string::String;

/// A source failed to produce bytes (network gone, client aborted...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl core::fmt::Display for SourceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "source failed: {}", self.0)
    }
}

/// Something that yields bytes in order, like `std::io::Read`.
pub trait Source {
    /// Fills a prefix of `buf`; `Ok(0)` means the end (for a non-empty `buf`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError>;

    /// Bytes left, when the source knows (a slice, a client's lease): a
    /// reader sizes its buffer by it instead of zeroing a whole piece for a
    /// 4 KiB blob (a 1 MiB `memset` per small put, issue #13). Only a hint:
    /// readers stay correct whatever it says.
    fn size_hint(&self) -> Option<u64> {
        None
    }
}

impl Source for &[u8] {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let n = buf.len().min(self.len());
        let (head, rest) = self.split_at(n);
        buf[..n].copy_from_slice(head);
        *self = rest;
        Ok(n)
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
pub fn read_full<S: Source + ?Sized>(src: &mut S, buf: &mut [u8]) -> Result<usize, SourceError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = src.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_source_reads_in_order() {
        let mut src: &[u8] = b"hello world";
        let mut buf = [0u8; 4];
        assert_eq!(read_full(&mut src, &mut buf), Ok(4));
        assert_eq!(&buf, b"hell");
        let mut big = [0u8; 20];
        assert_eq!(read_full(&mut src, &mut big), Ok(7));
        assert_eq!(&big[..7], b"o world");
        assert_eq!(src.read(&mut big), Ok(0));
        assert_eq!(src.size_hint(), Some(0));
    }
}
