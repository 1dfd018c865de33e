//! A std TCP server around the sans-IO [`Connection`]: one thread per
//! connection, the in-memory backend behind a mutex. Used by the TCP
//! tests, the skopeo test and `examples/serve.rs`; the microkernel service
//! does the same over the network service's sockets.

use registry_http::testing::MemBackend;
use registry_http::{
    Backend, BackendError, Connection, Digest, Limits, ManifestPut, Reference, StoredManifest,
    Timeout,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shared in-memory backend; each call holds the lock for that call.
#[derive(Clone, Default)]
pub struct Shared(pub Arc<Mutex<MemBackend>>);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&mut self, $($arg: $ty),*) -> $ret {
            self.0.lock().unwrap().$name($($arg),*)
        })*
    };
}

impl Backend for Shared {
    delegate! {
        blob_stat(repo: &str, digest: &Digest) -> Result<u64, BackendError>;
        blob_read(repo: &str, digest: &Digest, offset: u64, buf: &mut [u8]) -> Result<usize, BackendError>;
        blob_delete(repo: &str, digest: &Digest) -> Result<(), BackendError>;
        blob_mount(repo: &str, from: &str, digest: &Digest) -> Result<bool, BackendError>;
        upload_start(repo: &str) -> Result<String, BackendError>;
        upload_append(repo: &str, id: &str, offset: u64, data: &[u8]) -> Result<u64, BackendError>;
        upload_status(repo: &str, id: &str) -> Result<u64, BackendError>;
        upload_finish(repo: &str, id: &str, digest: &Digest) -> Result<u64, BackendError>;
        upload_cancel(repo: &str, id: &str) -> Result<(), BackendError>;
        manifest_put(repo: &str, reference: &Reference, manifest: &ManifestPut<'_>) -> Result<Digest, BackendError>;
        manifest_get(repo: &str, reference: &Reference) -> Result<StoredManifest, BackendError>;
        manifest_delete(repo: &str, reference: &Reference) -> Result<(), BackendError>;
        tags(repo: &str, last: Option<&str>, n: usize) -> Result<Vec<String>, BackendError>;
        catalog(last: Option<&str>, n: usize) -> Result<Vec<String>, BackendError>;
        referrers(repo: &str, subject: &Digest) -> Result<Vec<Digest>, BackendError>;
    }
}

/// Binds 127.0.0.1 on `port` (0: any free port), serves in background
/// threads; returns the port.
pub fn spawn(backend: Shared, port: u16) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || serve(listener, backend));
    port
}

pub fn serve(listener: TcpListener, backend: Shared) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let backend = backend.clone();
        std::thread::spawn(move || {
            let _ = handle(stream, backend);
        });
    }
}

fn flush(
    conn: &mut Connection,
    be: &mut Shared,
    s: &mut TcpStream,
    out: &mut [u8],
) -> std::io::Result<()> {
    while conn.has_output() {
        let n = conn.write_output(be, out);
        if n == 0 {
            break;
        }
        s.write_all(&out[..n])?;
    }
    // Let the state machine move on (to Closed or the next request).
    let n = conn.write_output(be, out);
    s.write_all(&out[..n])
}

fn handle(mut s: TcpStream, mut be: Shared) -> std::io::Result<()> {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_nodelay(true)?;
    let mut conn = Connection::new(Limits::default(), now());
    let mut inb = vec![0u8; 64 * 1024];
    let mut out = vec![0u8; 64 * 1024];
    loop {
        flush(&mut conn, &mut be, &mut s, &mut out)?;
        if conn.is_closed() {
            return Ok(());
        }
        match s.read(&mut inb) {
            Ok(0) => {
                conn.abort(&mut be);
                return Ok(());
            }
            Ok(n) => {
                let mut p = &inb[..n];
                while !p.is_empty() && !conn.is_closed() {
                    let c = conn.on_input(&mut be, p, now());
                    p = &p[c..];
                    flush(&mut conn, &mut be, &mut s, &mut out)?;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if conn.poll_timeout(&mut be, now()) == Timeout::Expired {
                    return Ok(());
                }
            }
            Err(e) => {
                conn.abort(&mut be);
                return Err(e);
            }
        }
    }
}
