//! Bytes from the disk are unverified until checked: a filesystem image
//! with blocks overwritten by garbage, or with single bits flipped, must
//! give errors (or fsck findings), never a panic and never wrong data.

mod common;

use block::{BlockStore, MemDevice};
use common::damage::{self, Damage};
use common::{noise, sha256};
use filesystem::{Fs, Reference, Registry, RepoName};

fn build_image() -> (Vec<u8>, Vec<(filesystem::Digest, Vec<u8>)>) {
    let store = BlockStore::format(MemDevice::new(2048), damage::config()).unwrap();
    let mut reg = Registry::new(Fs::open(store, 0).unwrap());
    let repo = RepoName::parse("corrupt/me").unwrap();
    let mut blobs = Vec::new();
    for i in 0..4u64 {
        let data = noise(i, 60_000 + i as usize * 30_000);
        let d = sha256(&data);
        reg.put_blob(&d, &mut &data[..]).unwrap();
        reg.link_blob(&repo, &d).unwrap();
        blobs.push((d, data));
    }
    let m = b"{\"layers\":[]}".to_vec();
    reg.put_manifest(&repo, &Reference::parse("t").unwrap(), &m, &sha256(&m))
        .unwrap();
    reg.fs().snapshot_create("s").unwrap();
    reg.fs().write_file("/x/y", b"after snapshot").unwrap();
    let image = reg.into_fs().into_device().unmount().unwrap().into_image();
    (image, blobs)
}

/// Runs every read path over a damaged image. Returns whether anything
/// reported the damage.
fn exercise(image: Vec<u8>, blobs: &[(filesystem::Digest, Vec<u8>)]) -> bool {
    let Ok(store) = BlockStore::mount(MemDevice::from_image(image), damage::config()) else {
        return true;
    };
    let Ok(fs) = Fs::open(store, 0) else {
        return true;
    };
    let mut reg = Registry::new(fs);
    let mut noticed = false;
    for (d, data) in blobs {
        match reg.read_blob(d, u64::MAX) {
            // Never wrong data: whatever is returned verified.
            Ok(Some(bytes)) => assert_eq!(&bytes, data),
            Ok(None) | Err(_) => noticed = true,
        }
    }
    noticed |= reg.list_repositories().is_err();
    noticed |= reg
        .list_tags(&RepoName::parse("corrupt/me").unwrap())
        .is_err();
    noticed |= reg.fs().walk(Some("s")).is_err();
    noticed |= reg.fs().snapshot_diff(Some("s"), None).is_err();
    noticed |= reg.fs().snapshot_list().is_err();
    match reg.fs().fsck(true) {
        Ok(r) => noticed |= !r.is_clean(),
        Err(_) => noticed = true,
    }
    // Writes and GC on a damaged store fail cleanly or work.
    noticed |= reg.fs().write_file("/new/file", b"x").is_err();
    noticed |= reg.fs().gc(true).is_err();
    noticed
}

#[test]
fn garbage_blocks_and_bit_flips_give_errors_not_panics() {
    let (image, blobs) = build_image();
    let mut damage = Damage::of(&image, 7);
    let mut noticed = 0;
    let rounds = 120;
    for round in 0..rounds {
        let (img, _) = damage.apply(&image, round);
        if exercise(img, &blobs) {
            noticed += 1;
        }
    }
    // Most damaged blocks are noticed; the rest hit unused bytes (zero
    // padding of a chunk's last block is not hashed, for instance).
    println!("damage noticed in {noticed} of {rounds} rounds");
    assert!(
        noticed * 10 >= rounds * 7,
        "only {noticed} of {rounds} noticed"
    );
}
