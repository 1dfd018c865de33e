//! A put whose bytes do not hash to the announced digest fails and leaves
//! nothing behind: no blob, no upload, the same tree; GC then returns the
//! space its chunks took.

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{layout, RegistryError, Source, SourceError};

#[test]
fn mismatch_leaves_tree_and_space_as_before() {
    let mut reg = fresh_registry(8192);
    reg.set_piece_size(100_000);
    let keep = noise(1, 300_000);
    let dk = sha256(&keep);
    reg.put_blob(&dk, &mut &keep[..]).unwrap();
    reg.fs().gc(false).unwrap();
    let tree_before = reg.fs().walk(None).unwrap();
    let stats_before = reg.fs().stats().unwrap();

    // Over one stream step (4 MiB): chunks are stored before the finish.
    let data = noise(2, 5_000_000);
    let wrong = sha256(b"something else");
    let err = reg.put_blob(&wrong, &mut &data[..]).unwrap_err();
    match err {
        RegistryError::Mismatch(m) => {
            assert_eq!(m.expected, wrong);
            assert_eq!(m.got, sha256(&data));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(!reg.has_blob(&wrong).unwrap());
    assert!(!reg.has_blob(&sha256(&data)).unwrap());
    assert!(!reg.fs().exists(&layout::blob_dir(&wrong)).unwrap());
    assert!(reg.list_uploads(None).unwrap().is_empty());
    assert_eq!(reg.fs().walk(None).unwrap(), tree_before);
    // The chunks written while streaming are garbage now; GC takes them.
    let gc = reg.fs().gc(false).unwrap();
    assert!(gc.sweep.bytes >= 3_500_000, "{gc:?}");
    let stats_after = reg.fs().stats().unwrap();
    assert_eq!(stats_after.chunk_bytes, stats_before.chunk_bytes);
    assert_eq!(stats_after.free_bytes, stats_before.free_bytes);
}

struct FailingSource {
    left: usize,
}

impl Source for FailingSource {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        if self.left == 0 {
            return Err(SourceError("client went away".into()));
        }
        let n = buf.len().min(self.left).min(50_000);
        buf[..n].fill(7);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn failing_source_leaves_no_upload() {
    let mut reg = fresh_registry(4096);
    reg.set_piece_size(64 * 1024);
    // One good multi-piece put first, so the (then empty) _uploads
    // directory exists.
    let ok = noise(3, 100_000);
    reg.put_blob(&sha256(&ok), &mut &ok[..]).unwrap();
    let before = reg.fs().walk(None).unwrap();
    let d = sha256(b"whatever");
    let err = reg
        .put_blob(&d, &mut FailingSource { left: 400_000 })
        .unwrap_err();
    assert!(err.to_string().contains("client went away"), "{err}");
    assert!(reg.list_uploads(None).unwrap().is_empty());
    assert_eq!(reg.fs().walk(None).unwrap(), before);
}
