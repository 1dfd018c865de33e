//! A real registry client against the library: `skopeo copy` pushes a
//! small OCI layout (written here: a single-platform image and a
//! two-platform index) to the in-memory registry over TCP, pulls it back
//! into a second layout, and the digests must match. Needs `skopeo`
//! (Debian package): `cargo test -p registry-http --test skopeo_push_pull
//! -- --ignored`.
mod common;
#[path = "common/server.rs"]
mod server;
use common::*;
use registry_http::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("registry-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_blob(layout: &Path, data: &[u8]) -> Digest {
    let d = sha256(data);
    let hex = d.as_str().strip_prefix("sha256:").unwrap();
    std::fs::write(layout.join("blobs/sha256").join(hex), data).unwrap();
    d
}

/// A gzipped tar of one file, made with the system `tar` and `gzip -n`
/// (an uncompressed layer would be compressed by skopeo on push, changing
/// the manifest digest).
fn layer_tar(work: &Path, content: &[u8]) -> Vec<u8> {
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), content).unwrap();
    let out = work.join("layer.tar");
    let st = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(&out)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("gzip")
        .args(["-n", "-f"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(work.join("layer.tar.gz")).unwrap()
}

/// One image for `arch`: returns (manifest digest, manifest bytes).
fn image(layout: &Path, work: &Path, arch: &str) -> (Digest, Vec<u8>) {
    let content = format!("hello from {arch}\n");
    let tar = layer_tar(work, content.as_bytes());
    let layer = write_blob(layout, &tar);
    let diff_id = {
        let st = Command::new("gzip")
            .args(["-dc"])
            .arg(work.join("layer.tar.gz"))
            .output()
            .unwrap();
        sha256(&st.stdout)
    };
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"config":{{}}}}"#
    );
    let cfg = write_blob(layout, config.as_bytes());
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
        config.len(),
        tar.len()
    );
    (write_blob(layout, m.as_bytes()), m.into_bytes())
}

fn write_layout(dir: &Path, tag: &str, top: &Digest, top_type: &str, top_len: usize) {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{top_type}","digest":"{top}","size":{top_len},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The digest index.json of a layout names first.
fn top_digest(dir: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    v["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "needs skopeo; run with --ignored"]
fn skopeo_pushes_and_pulls_back_identical_digests() {
    let backend = server::Shared::default();
    let port = server::spawn(backend.clone(), 0);
    let work = tmpdir("work");
    let src = tmpdir("src");
    std::fs::create_dir_all(src.join("blobs/sha256")).unwrap();

    // Single-platform image.
    let (img, img_bytes) = image(&src, &work, "amd64");
    write_layout(&src, "1", &img, OCI_MANIFEST, img_bytes.len());
    let dest = format!("docker://127.0.0.1:{port}/app:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", src.display()),
        &dest,
    ]);
    let back = tmpdir("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &dest,
        &format!("oci:{}:1", back.display()),
    ]);
    assert_eq!(top_digest(&back), img.as_str());

    // The same image into a second repository: its blobs are mounted or
    // re-sent; either way the pull gives the same digest.
    let dest2 = format!("docker://127.0.0.1:{port}/team/other:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", src.display()),
        &dest2,
    ]);
    let (mounts, appends) = {
        let b = backend.0.lock().unwrap();
        (b.mounts, b.appends)
    };
    eprintln!("second repository push: {mounts} blobs mounted, {appends} appends so far");

    // A two-platform index, pushed and pulled with --all.
    let (arm, arm_bytes) = image(&src, &work, "arm64");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{img}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":{},"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#,
        img_bytes.len(),
        arm_bytes.len()
    );
    let idx = write_blob(&src, index.as_bytes());
    write_layout(&src, "multi", &idx, OCI_INDEX, index.len());
    let dest3 = format!("docker://127.0.0.1:{port}/app:multi");
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", src.display()),
        &dest3,
    ]);
    let back2 = tmpdir("back2");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &dest3,
        &format!("oci:{}:multi", back2.display()),
    ]);
    assert_eq!(top_digest(&back2), idx.as_str());
    for d in [&img, &arm] {
        let hex = d.as_str().strip_prefix("sha256:").unwrap();
        let pulled = std::fs::read(back2.join("blobs/sha256").join(hex)).expect("child pulled");
        assert_eq!(&sha256(&pulled), d);
    }

    // skopeo inspect reads the tags list.
    let out = Command::new("skopeo")
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://127.0.0.1:{port}/app"),
        ])
        .output()
        .unwrap();
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list-tags json");
    assert_eq!(tags["Tags"], serde_json::json!(["1", "multi"]));
    assert_eq!(
        backend.0.lock().unwrap().open_uploads(),
        0,
        "no session left open"
    );
    for d in [work, src, back, back2] {
        let _ = std::fs::remove_dir_all(d);
    }
}
