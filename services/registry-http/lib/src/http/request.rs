//! A request head parsed by `httparse` and kept as owned fields: only the
//! headers the API uses survive, so the input buffer can be reused.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Most headers in one request (httparse needs a fixed array).
pub const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Other,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

#[derive(Clone, Debug)]
pub struct RequestHead {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub framing: Framing,
    pub expect_continue: bool,
    pub keep_alive: bool,
    pub content_type: Option<String>,
    pub content_range: Option<String>,
    pub range: Option<String>,
    /// Every `Accept` header, comma-joined.
    pub accept: String,
}

/// Why a head could not be used; each is answered 400 (or the given
/// status) and the connection closed, since framing is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    Malformed,
    TooManyHeaders,
    BadContentLength,
    UnsupportedTransferEncoding,
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooManyHeaders => 431,
            HeadError::UnsupportedTransferEncoding => 501,
            _ => 400,
        }
    }
}

/// Parses a complete head out of `buf`: `Ok(Some((len, head)))`,
/// `Ok(None)` when more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(usize, RequestHead)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(_) => return Err(HeadError::Malformed),
    };
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    };
    let target = req.path.unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let http10 = req.version == Some(0);
    let mut head = RequestHead {
        method,
        path: path.to_string(),
        query: query.to_string(),
        framing: Framing::None,
        expect_continue: false,
        keep_alive: !http10,
        content_type: None,
        content_range: None,
        range: None,
        accept: String::new(),
    };
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        let value = core::str::from_utf8(h.value)
            .map_err(|_| HeadError::Malformed)?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = parse_length(value).ok_or(HeadError::BadContentLength)?;
            // Differing duplicates are a request-smuggling vector: refuse.
            if length.is_some_and(|l| l != v) {
                return Err(HeadError::BadContentLength);
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") || chunked {
                return Err(HeadError::UnsupportedTransferEncoding);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-range") {
            head.content_range = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("range") {
            head.range = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("accept") {
            if !head.accept.is_empty() {
                head.accept.push(',');
            }
            head.accept.push_str(value);
        }
    }
    head.framing = match (chunked, length) {
        // Both at once is how requests are smuggled past proxies: refuse.
        (true, Some(_)) => return Err(HeadError::BadContentLength),
        (true, None) => Framing::Chunked,
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    Ok(Some((len, head)))
}

/// Decimal digits only (no sign, no spaces), no overflow.
fn parse_length(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl RequestHead {
    /// The media types of `Accept`, parameters dropped.
    pub fn accepted_types(&self) -> Vec<&str> {
        self.accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_fields_are_extracted() {
        let raw = b"PATCH /v2/a/blobs/uploads/x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\nAccept: a/b;q=1, c/d\r\nAccept: e/f\r\n\r\nhello";
        let (n, h) = parse(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 5);
        assert_eq!(h.method, Method::Patch);
        assert_eq!(h.path, "/v2/a/blobs/uploads/x");
        assert_eq!(h.query, "y=1");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.expect_continue && h.keep_alive);
        assert_eq!(h.accepted_types(), ["a/b", "c/d", "e/f"]);
        assert!(parse(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
    }

    #[test]
    fn lying_or_ambiguous_lengths_are_refused() {
        let bad = [
            &b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"[..],
            b"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for b in bad {
            assert_eq!(parse(b).unwrap_err(), HeadError::BadContentLength);
        }
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err(),
            HeadError::UnsupportedTransferEncoding
        );
    }
}
