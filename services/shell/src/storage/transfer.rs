//! Binary data across the serial line as base64 (the `base64` crate):
//! printed in 76-character lines, read back line by line, streamed in
//! pieces of [`PIECE`] bytes so any size passes through bounded memory.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use fs_api::client::Error as FsError;
use userlib::println;

use super::{fail, print_bytes, LINE_BYTES, PIECE};
use crate::Input;

/// Prints `data` as base64 lines of 76 characters.
fn print_base64(data: &[u8]) {
    let mut line = [0u8; 80];
    for group in data.chunks(LINE_BYTES) {
        match BASE64.encode_slice(group, &mut line) {
            Ok(n) => {
                line[n] = b'\n';
                print_bytes(&line[..=n]);
            }
            Err(_) => fail("base64", "encoding failed"),
        }
    }
}

/// Streams a file or blob out as base64; `read(offset, buf)` gives
/// (bytes, total size). The service sends only verified bytes (each chunk's
/// BLAKE3 is checked before any of its bytes leave it), so what is printed
/// is good; a failure after some output says, on the last line, how much
/// was printed and that the output is incomplete.
pub(super) fn get_stream(
    what: &str,
    name: &str,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<(usize, u64), FsError>,
) {
    // A multiple of the line size, so lines never straddle pieces.
    let mut buf = vec![0u8; LINE_BYTES * 1024];
    let mut offset = 0u64;
    let mut total = 0u64;
    loop {
        match read(offset, &mut buf) {
            Ok((0, size)) => {
                println!("({size} bytes)");
                return;
            }
            Ok((n, size)) => {
                print_base64(&buf[..n]);
                offset += n as u64;
                total = size;
            }
            Err(e) => return incomplete(what, name, offset, total, e),
        }
    }
}

/// The last line of an output stream that failed after `printed` bytes.
pub(super) fn incomplete(what: &str, name: &str, printed: u64, size: u64, e: FsError) {
    if printed == 0 {
        fail(what, e)
    } else if printed >= size {
        // Every chunk verified, but the whole blob's digest did not.
        fail(
            &alloc::format!("{what} {name}"),
            format_args!("output is not the blob: all {printed} bytes printed passed their chunk checks, but {e}"),
        )
    } else {
        fail(
            &alloc::format!("{what} {name}"),
            format_args!("output incomplete: {printed} of {size} bytes verified and printed; {e}"),
        )
    }
}

/// Reads base64 lines until `length` bytes are decoded, handing pieces of
/// at most [`PIECE`] bytes to `sink`. After a sink error the remaining
/// lines are still consumed (they are data, not commands); a line that does
/// not decode (`.` for one) ends the input at once; empty lines are skipped.
/// Returns the first error's text.
pub(super) fn read_base64(
    input: &mut Input,
    length: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), FsError>,
) -> Result<(), String> {
    let mut piece: Vec<u8> = Vec::with_capacity(PIECE);
    let mut got = 0u64;
    let mut line = String::new();
    let mut decoded = [0u8; 3 * 1024];
    let mut failed: Option<String> = None;
    while got < length {
        match input.read_line(&mut line) {
            None => return Err(String::from("console input ended")),
            Some(crate::Line::TooLong(len)) => {
                return Err(alloc::format!(
                    "base64 line of {len} characters is too long"
                ))
            }
            Some(crate::Line::Ok) => {}
        }
        let text = line.trim();
        if text.is_empty() {
            // A terminal's "\r\n" gives empty lines: not data, not an end.
            continue;
        }
        if text.len() > 4 * decoded.len() / 3 {
            return Err(alloc::format!(
                "base64 line of {} characters is too long",
                text.len()
            ));
        }
        let n = BASE64
            .decode_slice(text, &mut decoded)
            .map_err(|e| alloc::format!("bad base64 after {got} bytes: {e}"))?;
        got += n as u64;
        if got > length {
            return Err(alloc::format!(
                "{got} bytes decoded, more than the {length} announced"
            ));
        }
        if failed.is_some() {
            continue;
        }
        let mut rest = &decoded[..n];
        while !rest.is_empty() {
            let take = rest.len().min(PIECE - piece.len());
            piece.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if piece.len() == PIECE {
                if let Err(e) = sink(&piece) {
                    failed = Some(alloc::format!("{e}"));
                }
                piece.clear();
            }
        }
    }
    if let Some(f) = failed {
        return Err(f);
    }
    if !piece.is_empty() {
        sink(&piece).map_err(|e| alloc::format!("{e}"))?;
    }
    Ok(())
}

pub(super) fn parse_length(s: &str) -> Option<u64> {
    s.parse::<u64>().ok()
}
