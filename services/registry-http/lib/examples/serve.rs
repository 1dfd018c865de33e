//! Serves the registry API over TCP with the in-memory backend:
//! `cargo run -p registry-http --features testing --example serve [port]`
//! then e.g. `skopeo copy --dest-tls-verify=false oci:img:1
//! docker://127.0.0.1:5000/app:1`. Content lives only as long as the process.

#[path = "../tests/common/server.rs"]
#[allow(dead_code)] // spawn() is for the tests
mod server;

fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("registry on http://127.0.0.1:{port}/v2/ (in memory)");
    server::serve(listener, server::Shared::default());
}
