//! Decoder for `Transfer-Encoding: chunked` request bodies, fed any split
//! of the input and handing out data slices of that same input (no copy).
//!
//! The chunk-size line is parsed by `httparse::parse_chunk_size`; this file
//! only keeps the state between pieces, which httparse leaves to its
//! caller. Size lines and trailers are bounded so a client cannot make us
//! buffer without limit.

use alloc::vec::Vec;

/// Longest chunk-size line, extensions included.
const MAX_SIZE_LINE: usize = 1024;
/// Most trailer bytes accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A malformed size line or a missing CRLF after chunk data.
    Malformed,
    /// A size line or the trailers longer than their limit.
    TooLong,
}

#[derive(Debug)]
enum State {
    /// Reading a size line into `line`.
    Size,
    /// `u64` data bytes of the current chunk still to come.
    Data(u64),
    /// Expecting the CRLF after chunk data; how many of it seen.
    DataEnd(u8),
    /// Reading trailer lines after the last chunk.
    Trailers,
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// True once the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes a prefix of `input`; returns how many bytes and, when some
    /// of them are body data, that data. Call again with the rest until it
    /// consumes nothing (more input needed) or [`Self::is_done`].
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<&'a [u8]>), ChunkError> {
        let mut used = 0;
        while used < input.len() {
            match self.state {
                State::Done => break,
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - used);
                    let data = &input[used..used + take];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd(0)
                    } else {
                        State::Data(left)
                    };
                    return Ok((used + take, Some(data)));
                }
                State::DataEnd(seen) => {
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if input[used] != want {
                        return Err(ChunkError::Malformed);
                    }
                    used += 1;
                    self.state = if seen == 0 {
                        State::DataEnd(1)
                    } else {
                        State::Size
                    };
                }
                State::Size => {
                    let rest = &input[used..];
                    let (take, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (rest.len(), false),
                    };
                    if self.line.len() + take > MAX_SIZE_LINE {
                        return Err(ChunkError::TooLong);
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    used += take;
                    if complete {
                        let size = match httparse::parse_chunk_size(&self.line) {
                            Ok(httparse::Status::Complete((_, size))) => size,
                            _ => return Err(ChunkError::Malformed),
                        };
                        self.line.clear();
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                }
                State::Trailers => {
                    let rest = &input[used..];
                    let (take, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (rest.len(), false),
                    };
                    self.trailer_bytes += take;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(ChunkError::TooLong);
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    used += take;
                    if complete {
                        let empty = self.line == b"\r\n" || self.line == b"\n";
                        self.line.clear();
                        if empty {
                            self.state = State::Done;
                        }
                    }
                }
            }
        }
        Ok((used, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], split: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        for piece in input.chunks(split) {
            let mut p = piece;
            while !p.is_empty() && !d.is_done() {
                let (n, data) = d.decode(p)?;
                if let Some(data) = data {
                    out.extend_from_slice(data);
                }
                consumed += n;
                p = &p[n..];
            }
        }
        assert!(d.is_done(), "not done");
        Ok((out, consumed))
    }

    #[test]
    fn every_split_of_a_chunked_body_decodes_the_same() {
        let body =
            b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 1..body.len() {
            let (out, consumed) = decode_split(body, split).unwrap();
            assert_eq!(out, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(consumed, body.len() - 4, "split {split}");
        }
    }

    #[test]
    fn malformed_and_oversized_chunks_are_refused() {
        assert_eq!(decode_split(b"zz\r\n", 3), Err(ChunkError::Malformed));
        assert_eq!(
            decode_split(b"2\r\nabX\r\n0\r\n\r\n", 64),
            Err(ChunkError::Malformed)
        );
        let long = [b'1'; 2000];
        assert_eq!(decode_split(&long, 100), Err(ChunkError::TooLong));
        // A size beyond u64 is malformed, not a wrap-around.
        assert_eq!(
            decode_split(b"fffffffffffffffffff\r\n", 64),
            Err(ChunkError::Malformed)
        );
    }
}
