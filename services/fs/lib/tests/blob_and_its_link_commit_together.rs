//! A blob put into a repository becomes visible together with the
//! repository's link to it: after a power cut at any point, a stored blob
//! is always listed by its repository (the crash harness once saw the blob
//! stored and `repos` not listing it, when the link was a second
//! transaction).

mod common;

use block::{BlockStore, MemDevice};
use common::{crash_config, noise, sha256};
use filesystem::{Fs, Registry, RepoName};
use testkit::{crash_image, CutMode};

#[test]
fn a_stored_blob_is_always_linked_into_its_repository() {
    let mut reg = Registry::new(common::recording_fs(4096));
    reg.set_piece_size(64 * 1024);
    let repo = RepoName::parse("team/app").unwrap();
    // One blob through the multi-piece upload path, one in a single piece.
    let big = noise(5, 200_000);
    let small = noise(6, 3_000);
    for data in [&big, &small] {
        let d = sha256(data);
        reg.put_blob_into(&d, &mut &data[..], Some(&repo)).unwrap();
    }
    let device = reg.into_fs().into_device().into_device();
    let n = device.ops().len();
    let mut checked = 0;
    for cut in 0..=n {
        for mode in [CutMode::DropAll, CutMode::KeepAll] {
            let image = crash_image(&device, cut, mode, cut as u64);
            let store = BlockStore::mount(MemDevice::from_image(image), crash_config()).unwrap();
            let mut reg = Registry::new(Fs::open(store, 0).unwrap());
            for data in [&big, &small] {
                let d = sha256(data);
                let stored = reg.has_blob(&d).unwrap();
                let linked = reg.is_linked(&repo, &d).unwrap();
                assert_eq!(
                    stored, linked,
                    "cut {cut} {mode:?}: stored {stored}, linked {linked}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20);
}

/// A tiny blob and its link are both held inline in the tree (no chunk):
/// after a power cut at every write of the put, the put is there whole
/// (blob stored, linked, byte-identical, fsck clean) or not at all.
#[test]
fn a_tiny_inline_put_is_whole_or_absent_after_a_cut_at_every_write() {
    let mut reg = Registry::new(common::recording_fs(4096));
    let repo = RepoName::parse("team/app").unwrap();
    let first = noise(7, 4096);
    let tiny = noise(8, 90);
    let mut put = |data: &[u8]| {
        let d = sha256(data);
        reg.put_blob_into(&d, &mut &data[..], Some(&repo)).unwrap();
    };
    put(&first);
    put(&tiny);
    let device = reg.into_fs().into_device().into_device();
    let n = device.ops().len();
    let (mut whole, mut absent) = (0, 0);
    for cut in 0..=n {
        for mode in [CutMode::DropAll, CutMode::KeepAll] {
            let image = crash_image(&device, cut, mode, cut as u64);
            let store = BlockStore::mount(MemDevice::from_image(image), crash_config()).unwrap();
            let mut reg = Registry::new(Fs::open(store, 0).unwrap());
            let d = sha256(&tiny);
            let stored = reg.has_blob(&d).unwrap();
            let linked = reg.is_linked(&repo, &d).unwrap();
            assert_eq!(stored, linked, "cut {cut} {mode:?}");
            if stored {
                assert_eq!(
                    reg.read_blob(&d, 1 << 10).unwrap().as_deref(),
                    Some(&tiny[..]),
                    "cut {cut} {mode:?}"
                );
                whole += 1;
            } else {
                absent += 1;
            }
            let r = reg.fs().fsck(true).unwrap();
            assert!(r.is_clean(), "cut {cut} {mode:?}: {r:?}");
        }
    }
    assert!(whole > 0 && absent > 0, "whole {whole}, absent {absent}");
}
