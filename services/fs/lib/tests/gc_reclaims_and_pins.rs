//! GC: unreferenced chunks and blocks are reclaimed; an upload in progress
//! and snapshot-held data survive; a dry run changes nothing.

mod common;

use common::{fresh_registry, noise, sha256};
use filesystem::{fsck_blocks, Algorithm, RepoName};

#[test]
fn deleted_blobs_are_reclaimed_and_nothing_else() {
    let mut reg = fresh_registry(16384);
    let keep = noise(1, 1_000_000);
    let drop = noise(2, 1_500_000);
    let (dk, dd) = (sha256(&keep), sha256(&drop));
    reg.put_blob(&dk, &mut &keep[..]).unwrap();
    reg.put_blob(&dd, &mut &drop[..]).unwrap();
    reg.fs().gc(false).unwrap();
    assert!(reg.delete_blob(&dd).unwrap());
    let full = reg.fs().stats().unwrap();

    // Dry run: reports, changes nothing.
    let tree = reg.fs().walk(None).unwrap();
    let dry = reg.fs().gc(true).unwrap();
    assert!(dry.dry_run);
    assert!(dry.sweep.bytes >= 1_500_000, "{dry:?}");
    assert_eq!(reg.fs().stats().unwrap(), full);
    assert_eq!(reg.fs().walk(None).unwrap(), tree);
    let dry_again = reg.fs().gc(true).unwrap();
    assert_eq!(dry_again.sweep, dry.sweep);

    // Real run frees what the dry run announced.
    let real = reg.fs().gc(false).unwrap();
    assert_eq!(real.sweep.chunks, dry.sweep.chunks);
    assert_eq!(real.sweep.bytes, dry.sweep.bytes);
    let after = reg.fs().stats().unwrap();
    assert_eq!(full.chunk_bytes - after.chunk_bytes, real.sweep.bytes);
    assert!(after.free_bytes > full.free_bytes);
    // The kept blob is intact, fsck is clean and no block is left over.
    assert_eq!(reg.read_blob(&dk, u64::MAX).unwrap().unwrap(), keep);
    let report = fsck_blocks(reg.fs(), true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.garbage_blocks, 0);
    // A second GC finds nothing.
    let again = reg.fs().gc(false).unwrap();
    assert_eq!(again.sweep.chunks, 0);
    assert_eq!(again.blocks_freed, 0);
}

#[test]
fn upload_in_progress_is_pinned() {
    let mut reg = fresh_registry(16384);
    let repo = RepoName::parse("pinned/upload").unwrap();
    let data = noise(3, 2_000_000);
    let d = sha256(&data);
    let mut up = reg.begin_upload(Some(&repo), Algorithm::Sha256).unwrap();
    reg.upload_write(&mut up, &data[..1_200_000]).unwrap();
    // Garbage next to it, so the GC has something to do.
    let junk = noise(4, 500_000);
    reg.put_blob(&sha256(&junk), &mut &junk[..]).unwrap();
    reg.delete_blob(&sha256(&junk)).unwrap();
    let gc = reg.fs().gc(false).unwrap();
    assert!(gc.sweep.bytes >= 500_000);
    // The upload continues and completes with its first part intact.
    reg.upload_write(&mut up, &data[1_200_000..]).unwrap();
    reg.finish_upload(up, &d).unwrap();
    assert_eq!(reg.read_blob(&d, u64::MAX).unwrap().unwrap(), data);
    let report = fsck_blocks(reg.fs(), true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn snapshot_keeps_deleted_data_alive_until_it_goes() {
    let mut reg = fresh_registry(16384);
    let data = noise(5, 1_000_000);
    let d = sha256(&data);
    reg.put_blob(&d, &mut &data[..]).unwrap();
    reg.fs().snapshot_create("before-delete").unwrap();
    reg.delete_blob(&d).unwrap();
    let gc = reg.fs().gc(false).unwrap();
    // Only the upload's few-byte `startedat` file is garbage.
    assert!(
        gc.sweep.bytes < 100,
        "snapshot-held chunks were swept: {gc:?}"
    );
    let path = filesystem::layout::blob_data(&d);
    let held = reg
        .fs()
        .read_file_in(Some("before-delete"), &path, u64::MAX)
        .unwrap();
    assert_eq!(held, data);
    // Deleting the snapshot releases the data (and its tree nodes).
    reg.fs().snapshot_delete("before-delete").unwrap();
    let gc = reg.fs().gc(false).unwrap();
    assert!(gc.sweep.bytes >= 1_000_000, "{gc:?}");
    assert!(
        gc.blocks_freed > 0,
        "snapshot-only tree nodes not freed: {gc:?}"
    );
    let report = fsck_blocks(reg.fs(), true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.garbage_blocks, 0);
}
