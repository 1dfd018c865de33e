//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream` for the
//! TCP tests: one request at a time on a keep-alive connection.

use super::{parse_response, Resp};
use std::io::{Read, Write};
use std::net::TcpStream;

pub struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        Client { s, buf: Vec::new() }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.s.write_all(raw).expect("write");
    }

    /// Reads the next response.
    pub fn response(&mut self, head: bool) -> Resp {
        let mut tmp = [0u8; 64 * 1024];
        loop {
            if let Some((r, used)) = parse_response(&self.buf, head) {
                self.buf.drain(..used);
                return r;
            }
            let n = self.s.read(&mut tmp).expect("read");
            assert!(n > 0, "server closed mid-response");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    pub fn request(&mut self, raw: &[u8]) -> Resp {
        self.send(raw);
        let head = raw.starts_with(b"HEAD ");
        loop {
            let r = self.response(head);
            if r.status != 100 {
                return r;
            }
        }
    }
}
