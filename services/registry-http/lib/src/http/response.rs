//! Responses: status, headers and a body that is either bytes in memory
//! (errors, manifests, listings: all bounded) or a blob range streamed from
//! the backend in pieces.

use crate::error::ApiError;
use crate::names::Digest;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of a blob from `offset`, read from the backend while
    /// sending.
    Blob {
        repo: String,
        digest: Digest,
        offset: u64,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Blob { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// A HEAD answer: `Content-Length` of the body, no body bytes.
    pub head_only: bool,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            head_only: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(self, body: Vec<u8>, content_type: &str) -> Response {
        let mut r = self.header("Content-Type", content_type);
        r.body = Body::Bytes(body);
        r
    }

    pub fn error(e: &ApiError) -> Response {
        Response::new(e.status).json(e.body(), "application/json")
    }

    /// The status line and headers, with `Content-Length` and `Connection`.
    pub fn encode_head(&self, keep_alive: bool, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(256);
        let _ = write!(s, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n", self.body.len());
        if !keep_alive {
            s.push_str("Connection: close\r\n");
        }
        s.push_str("\r\n");
        out.extend_from_slice(s.as_bytes());
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}
