//! Test harness: a [`Connection`] over a [`MemBackend`], fed raw bytes,
//! with a small response parser (httparse) to check the answers.
#![allow(dead_code)]

use registry_http::testing::MemBackend;
use registry_http::{Connection, Digest, Limits};

pub use registry_http::testing::sha256;

pub struct Harness {
    pub be: MemBackend,
    pub conn: Connection,
    pub now: u64,
    /// Bytes written by the connection not yet parsed.
    pub pending: Vec<u8>,
    /// Size of the output buffer offered to `write_output`.
    pub out_buf: usize,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// The status line's reason phrase.
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The spec error code of a JSON error body.
    pub fn error_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("json error body");
        v["errors"][0]["code"].as_str().expect("code").to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Harness {
        Harness {
            be: MemBackend::new(),
            conn: Connection::new(limits, 0),
            now: 0,
            pending: Vec::new(),
            out_buf: 64 * 1024,
        }
    }

    /// A fresh connection to the same backend (a reconnecting client).
    pub fn reconnect(&mut self, limits: Limits) {
        self.conn = Connection::new(limits, self.now);
        self.pending.clear();
    }

    /// Feeds `data` in pieces of `split` bytes, draining output whenever
    /// the connection pushes back.
    pub fn send_split(&mut self, data: &[u8], split: usize) {
        for piece in data.chunks(split.max(1)) {
            let mut p = piece;
            while !p.is_empty() {
                let n = self.conn.on_input(&mut self.be, p, self.now);
                p = &p[n..];
                if n == 0 {
                    let before = self.pending.len();
                    self.drain();
                    assert!(
                        self.pending.len() > before || self.conn.is_closed(),
                        "connection took no input and gave no output"
                    );
                    if self.conn.is_closed() {
                        return;
                    }
                }
            }
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.send_split(data, data.len());
    }

    /// Takes every output byte the connection has now.
    pub fn drain(&mut self) {
        let mut buf = vec![0u8; self.out_buf];
        loop {
            let n = self.conn.write_output(&mut self.be, &mut buf);
            if n == 0 {
                break;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Parses the next response out of the output (`head` = it answers a
    /// HEAD request, so it has no body).
    pub fn next_response(&mut self, head: bool) -> Option<Resp> {
        self.drain();
        let (resp, used) = parse_response(&self.pending, head)?;
        self.pending.drain(..used);
        Some(resp)
    }

    /// Sends one request and returns its (final) answer.
    pub fn request(&mut self, raw: &[u8]) -> Resp {
        self.send(raw);
        let head = raw.starts_with(b"HEAD ");
        let mut r = self.next_response(head).expect("a response");
        while r.status == 100 {
            r = self.next_response(head).expect("a final response");
        }
        r
    }

    /// Pushes a blob with a monolithic POST; returns its digest.
    pub fn push_blob(&mut self, repo: &str, data: &[u8]) -> Digest {
        let d = sha256(data);
        let r = self.request(&req(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[],
            data,
        ));
        assert_eq!(r.status, 201, "{}", r.text());
        d
    }

    /// Puts a manifest; returns the answer.
    pub fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.request(&req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            body,
        ))
    }
}

/// Parses one response from `buf`: (response, bytes used).
pub fn parse_response(buf: &[u8], head: bool) -> Option<(Resp, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let n = match r.parse(buf).expect("valid response") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = r.code.unwrap();
    let reason = r.reason.unwrap_or("").to_string();
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let len = if head || status == 100 { 0 } else { len };
    if buf.len() < n + len {
        return None;
    }
    let body = buf[n..n + len].to_vec();
    Some((
        Resp {
            status,
            reason,
            headers,
            body,
        },
        n + len,
    ))
}

/// A request with `Content-Length` when it has a body.
pub fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

/// A request with a chunked body cut into the given chunk sizes.
pub fn chunked_req(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunk: usize,
) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    for c in body.chunks(chunk.max(1)) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An image manifest JSON naming `config` and `layers` (all sizes given).
pub fn image_manifest(
    media_type: &str,
    config: (&Digest, usize),
    layers: &[(&Digest, usize)],
    extra: &str,
) -> Vec<u8> {
    let layer_type = if media_type == DOCKER_MANIFEST {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    };
    let config_type = if media_type == DOCKER_MANIFEST {
        "application/vnd.docker.container.image.v1+json"
    } else {
        "application/vnd.oci.image.config.v1+json"
    };
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, n)| format!(r#"{{"mediaType":"{layer_type}","digest":"{d}","size":{n}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"{config_type}","digest":"{}","size":{}}},"layers":[{}]{extra}}}"#,
        config.0,
        config.1,
        layers.join(",")
    )
    .into_bytes()
}

/// An index JSON naming child manifests (digest, size, media type).
pub fn index_manifest(media_type: &str, children: &[(&Digest, usize, &str)]) -> Vec<u8> {
    let m: Vec<String> = children
        .iter()
        .map(|(d, n, t)| format!(r#"{{"mediaType":"{t}","digest":"{d}","size":{n},"platform":{{"architecture":"amd64","os":"linux"}}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[{}]}}"#,
        m.join(",")
    )
    .into_bytes()
}
