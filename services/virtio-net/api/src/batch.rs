//! The frame-batch format of `Send` and `Receive` leases.
//!
//! Byte layout (little-endian), records packed back to back from offset 0:
//!
//! ```text
//! offset 0: u16 length L of frame 0 (MIN_FRAME..=MAX_FRAME)
//! offset 2: L bytes of frame 0 (Ethernet header first, no FCS)
//! offset 2+L: u16 length of frame 1, then its bytes, ...
//! ```
//!
//! The number of records is carried beside the lease (the `Send` word, the
//! first `Receive` reply word); bytes after the last record are ignored.

use crate::{MAX_FRAME, MIN_FRAME};

/// Bytes of a record's length prefix.
pub const PREFIX: usize = 2;

/// Why a batch was refused: the record index and the length seen (or the
/// bytes left when the prefix itself was cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub index: usize,
    pub len: usize,
}

/// Appends frames to a buffer in the batch format.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    used: usize,
    frames: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf,
            used: 0,
            frames: 0,
        }
    }

    /// Whether a frame of `len` bytes still fits.
    pub fn fits(&self, len: usize) -> bool {
        self.buf.len() - self.used >= PREFIX + len
    }

    /// Room for the next frame of `len` bytes (its prefix written), or
    /// `None` if it does not fit or `len` is not a frame length.
    pub fn push(&mut self, len: usize) -> Option<&mut [u8]> {
        if !(MIN_FRAME..=MAX_FRAME).contains(&len) || !self.fits(len) {
            return None;
        }
        let at = self.used;
        self.buf[at..at + PREFIX].copy_from_slice(&(len as u16).to_le_bytes());
        self.used += PREFIX + len;
        self.frames += 1;
        Some(&mut self.buf[at + PREFIX..at + PREFIX + len])
    }

    /// Appends a copy of `frame`; false if it does not fit or is no frame.
    pub fn push_frame(&mut self, frame: &[u8]) -> bool {
        match self.push(frame.len()) {
            Some(room) => {
                room.copy_from_slice(frame);
                true
            }
            None => false,
        }
    }

    /// (frames, bytes) written so far.
    pub fn finish(&self) -> (usize, usize) {
        (self.frames, self.used)
    }
}

/// The frames of a batch of `count` records, each checked before use.
pub fn frames(buf: &[u8], count: usize) -> Frames<'_> {
    Frames {
        buf,
        at: 0,
        index: 0,
        count,
    }
}

pub struct Frames<'a> {
    buf: &'a [u8],
    at: usize,
    index: usize,
    count: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], BadRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let index = self.index;
        // After an error the iteration ends.
        self.index = self.count;
        let rest = &self.buf[self.at.min(self.buf.len())..];
        let Some(prefix) = rest.get(..PREFIX) else {
            return Some(Err(BadRecord {
                index,
                len: rest.len(),
            }));
        };
        let len = u16::from_le_bytes([prefix[0], prefix[1]]) as usize;
        if !(MIN_FRAME..=MAX_FRAME).contains(&len) || rest.len() < PREFIX + len {
            return Some(Err(BadRecord { index, len }));
        }
        self.at += PREFIX + len;
        self.index = index + 1;
        Some(Ok(&rest[PREFIX..PREFIX + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn frames_round_trip_through_a_batch() {
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf);
        assert!(w.push_frame(&frame(60, 1)));
        assert!(w.push_frame(&frame(MAX_FRAME, 2)));
        assert!(w.push_frame(&frame(MIN_FRAME, 3)));
        let (n, used) = w.finish();
        assert_eq!((n, used), (3, 6 + 60 + MAX_FRAME + MIN_FRAME));
        let got: Vec<_> = frames(&buf[..used], n).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                &frame(60, 1)[..],
                &frame(MAX_FRAME, 2),
                &frame(MIN_FRAME, 3)
            ]
        );
    }

    #[test]
    fn writer_refuses_what_does_not_fit_or_is_no_frame() {
        let mut buf = vec![0u8; 100];
        let mut w = Writer::new(&mut buf);
        assert!(!w.push_frame(&frame(13, 0)));
        assert!(!w.push_frame(&frame(MAX_FRAME + 1, 0)));
        assert!(w.push_frame(&frame(90, 0)));
        assert!(!w.push_frame(&frame(14, 0)));
        assert_eq!(w.finish(), (1, 92));
    }

    #[test]
    fn bad_batches_name_the_record() {
        // A length below the minimum.
        let buf = [5u8, 0, 1, 2, 3, 4, 5];
        assert_eq!(
            frames(&buf, 1).next(),
            Some(Err(BadRecord { index: 0, len: 5 }))
        );
        // A record running past the buffer, after a good one.
        let mut buf = vec![0u8; 16 + 2 + 10];
        buf[..2].copy_from_slice(&14u16.to_le_bytes());
        buf[16..18].copy_from_slice(&100u16.to_le_bytes());
        let got: Vec<_> = frames(&buf, 2).collect();
        assert_eq!(got[0], Ok(&buf[2..16]));
        assert_eq!(got[1], Err(BadRecord { index: 1, len: 100 }));
        // More records announced than present: the cut prefix is named.
        let got: Vec<_> = frames(&buf[..16], 2).collect();
        assert_eq!(got[1], Err(BadRecord { index: 1, len: 0 }));
        // Iteration stops after an error.
        assert_eq!(frames(&buf, 5).count(), 2);
    }
}
