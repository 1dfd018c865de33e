//! Interoperability with the reference registry (distribution 2.8.2, the
//! Debian `docker-registry` package): the tree our registry API writes is
//! exported to a host directory, served by the reference registry, and
//! pulled with `skopeo`. The pull verifies every digest; the catalog and the
//! tag list come from the reference's own reading of our links. And back:
//! a tree the reference wrote for a skopeo push is imported and served by
//! our API, and passes our fsck (its links are byte-exact to ours).
//!
//! Needs `docker-registry` and `skopeo` (`apt-get install docker-registry
//! skopeo`); ignored by default:
//! `cargo test -p filesystem --test reference_registry_serves_our_tree -- --ignored`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fresh_registry, noise, sha256};
use filesystem::{Kind, Reference, RepoName};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
#[ignore = "needs docker-registry and skopeo; run with --ignored"]
fn reference_registry_pulls_our_export() {
    let mut reg = fresh_registry(16384);
    let repo = RepoName::parse("myorg/team/app").unwrap();
    let layer = noise(1, 300_000);
    let d_layer = sha256(&layer);
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{d_layer}\"]}}}}"
    )
    .into_bytes();
    let d_config = sha256(&config);
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{d_config}\",\"size\":{}}},\
\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{d_layer}\",\"size\":{}}}]}}",
        config.len(),
        layer.len()
    )
    .into_bytes();
    let d_manifest = sha256(&manifest);
    for (d, bytes) in [(&d_layer, &layer), (&d_config, &config)] {
        reg.put_blob(d, &mut &bytes[..]).unwrap();
        reg.link_blob(&repo, d).unwrap();
    }
    reg.put_manifest(
        &repo,
        &Reference::parse("v1").unwrap(),
        &manifest,
        &d_manifest,
    )
    .unwrap();

    // Export the tree as files.
    let dir = std::env::temp_dir().join(format!("fs-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for e in reg.fs().walk(None).unwrap() {
        let target = dir.join(e.path.trim_start_matches('/'));
        if e.kind == Kind::Dir {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            let bytes = reg.fs().read_file(&e.path, u64::MAX).unwrap();
            std::fs::write(&target, bytes).unwrap();
        }
    }
    let link =
        dir.join("docker/registry/v2/repositories/myorg/team/app/_manifests/tags/v1/current/link");
    assert_eq!(
        std::fs::read(&link).unwrap(),
        format!("{d_manifest}").into_bytes()
    );

    // Serve it with the reference registry.
    let port = 15000 + (std::process::id() % 1000) as u16;
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry not installed");
    let _guard = Killed(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let catalog = http_get(port, "/v2/_catalog");
    assert!(catalog.contains("\"myorg/team/app\""), "{catalog}");
    let tags = http_get(port, "/v2/myorg/team/app/tags/list");
    assert!(tags.contains("\"v1\""), "{tags}");

    // Pull with skopeo: it checks the manifest and every blob digest.
    let out = dir.join("pulled");
    let status = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://127.0.0.1:{port}/myorg/team/app:v1"))
        .arg(format!("dir:{}", out.display()))
        .status()
        .expect("skopeo not installed");
    assert!(status.success(), "skopeo copy failed");
    let pulled_layer = std::fs::read(out.join(d_layer.hex())).unwrap();
    assert_eq!(pulled_layer, layer);
    let pulled_manifest = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(sha256(&pulled_manifest), d_manifest);
    drop(_guard);

    // The other way: skopeo pushes the pulled image into an empty reference
    // registry; we import its tree and serve it through our API.
    let root2 = dir.join("reference-root");
    std::fs::create_dir_all(&root2).unwrap();
    let port2 = port + 1;
    let cfg2 = dir.join("config2.yml");
    std::fs::write(
        &cfg2,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port2}\n",
            root2.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg2)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard2 = Killed(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port2)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("dir:{}", out.display()))
        .arg(format!("docker://127.0.0.1:{port2}/pushed/by/skopeo:v2"))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo push failed");
    drop(guard2);
    let mut ours = fresh_registry(16384);
    let mut stack = vec![root2.join("docker")];
    while let Some(p) = stack.pop() {
        let rel = p
            .strip_prefix(&root2)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if p.is_dir() {
            ours.fs().mkdir_all(&format!("/{rel}")).unwrap();
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else {
            ours.fs()
                .write_file(&format!("/{rel}"), &std::fs::read(&p).unwrap())
                .unwrap();
        }
    }
    let pushed = RepoName::parse("pushed/by/skopeo").unwrap();
    assert_eq!(ours.list_repositories().unwrap(), vec!["pushed/by/skopeo"]);
    assert_eq!(ours.list_tags(&pushed).unwrap(), vec!["v2"]);
    let (m, d) = ours
        .get_manifest(&pushed, &Reference::parse("v2").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(sha256(&m), d);
    // Every blob the pushed manifest names (skopeo may recompress the
    // layer) is linked into the repository and verifies.
    let text = String::from_utf8(m.clone()).unwrap();
    let named: Vec<filesystem::Digest> = text
        .match_indices("sha256:")
        .filter_map(|(i, _)| text.get(i..i + 71))
        .filter_map(|t| filesystem::Digest::parse(t).ok())
        .collect();
    assert_eq!(named.len(), 2, "{text}");
    for blob in &named {
        assert!(ours.is_linked(&pushed, blob).unwrap(), "{blob} not linked");
        let bytes = ours.read_blob(blob, u64::MAX).unwrap().unwrap();
        assert_eq!(&sha256(&bytes), blob);
    }
    let report = ours.fs().fsck(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(
        report.links_checked >= 4 && report.blobs_verified >= 3,
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
