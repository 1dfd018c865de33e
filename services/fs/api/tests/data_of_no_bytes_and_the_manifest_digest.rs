//! Data of no bytes (an empty file, an empty blob) reaches the service as
//! an empty lease rather than a refusal; a manifest's digest comes back in
//! the reply's words (no second call) and reads as `sha256:<hex>`.
mod support;

use support::{client, FakeFs};

#[test]
fn empty_data_reaches_the_service() {
    let c = client(FakeFs::default());
    assert_eq!(c.blob_put("app", "sha256:e3", &[]), Ok(0));
    assert_eq!(c.append("/f", &[]), Ok(0));
    assert_eq!(c.put_write(&[]), Ok(0));
    assert_eq!(c.upload_append("app", 1, 7, &[]), Ok(7));
    assert_eq!(c.put_write(b"abc"), Ok(3));
    assert_eq!(
        c.stub().transport.server.borrow().data_lens,
        [0, 0, 0, 0, 3]
    );
}

#[test]
fn the_manifest_digest_comes_back_in_the_reply() {
    let c = client(FakeFs::default());
    let d = c.manifest_put("app", "v1", b"{}").unwrap();
    let hex: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
    assert_eq!(d, format!("sha256:{hex}"));
}

#[test]
fn replies_arrive_typed() {
    let c = client(FakeFs::default());
    let s = c.stat("/").unwrap();
    assert!(s.is_dir);
    assert_eq!((s.size, s.ino, s.mode), (1, 7, 0o644));
    let mut buf = [0u8; 3];
    assert_eq!(c.read("/x", 10, &mut buf), Ok((3, 15)));
    assert_eq!(&buf, b"hel");
    let mut out = [0u8; 64];
    let f = c.stub().fsck(&mut out).unwrap();
    assert_eq!((f.problems, f.text.written), (2, 17));
    let t = c.df(&mut out).unwrap();
    assert_eq!((t.written, t.needed), (3, 3));
}
