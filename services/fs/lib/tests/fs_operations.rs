//! Every filesystem operation with its edge cases, checked against a model.

mod common;

use common::{fresh_fs, noise, read_all};
use filesystem::{FsError, Kind};

#[test]
fn create_write_read_at_offsets() {
    let mut fs = fresh_fs(8192);
    fs.mkdir("/d").unwrap();
    let ino = fs.create("/d/f").unwrap();
    assert!(matches!(
        fs.create("/d/f"),
        Err(FsError::AlreadyExists { .. })
    ));
    assert_eq!(fs.stat("/d/f").unwrap().size, 0);
    let data = noise(1, 700_000);
    fs.write_at(ino, 0, &data).unwrap();
    assert_eq!(read_all(&mut fs, "/d/f"), data);
    // Overwrite in the middle, across chunk boundaries.
    let patch = noise(2, 100_000);
    fs.write_at(ino, 300_000, &patch).unwrap();
    let mut model = data.clone();
    model[300_000..400_000].copy_from_slice(&patch);
    assert_eq!(read_all(&mut fs, "/d/f"), model);
    // Read at arbitrary offsets.
    for (off, len) in [
        (0usize, 1usize),
        (65_535, 3),
        (299_999, 100_002),
        (699_000, 5000),
    ] {
        let mut buf = vec![0u8; len];
        let n = fs.read_at(ino, off as u64, &mut buf).unwrap();
        let want = &model[off..(off + len).min(model.len())];
        assert_eq!(&buf[..n], want, "read at {off}");
    }
    let mut buf = [0u8; 10];
    assert_eq!(fs.read_at(ino, 700_000, &mut buf).unwrap(), 0);
    assert_eq!(fs.read_at(ino, 10_000_000, &mut buf).unwrap(), 0);
    // Write past the end leaves a zero-filled gap.
    fs.write_at(ino, 800_000, b"tail").unwrap();
    model.resize(800_000, 0);
    model.extend_from_slice(b"tail");
    assert_eq!(read_all(&mut fs, "/d/f"), model);
    assert_eq!(fs.stat("/d/f").unwrap().size, 800_004);
    assert_eq!(fs.logical_bytes(), 800_004);
    assert!(fs.fsck(true).unwrap().is_clean());
}

#[test]
fn append_and_truncate() {
    let mut fs = fresh_fs(8192);
    let ino = fs.create("/f").unwrap();
    let mut model = Vec::new();
    for i in 0..20u64 {
        let piece = noise(i, 10_000 + (i as usize) * 777);
        fs.append(ino, &piece).unwrap();
        model.extend_from_slice(&piece);
    }
    assert_eq!(read_all(&mut fs, "/f"), model);
    fs.truncate("/f", 123_457).unwrap();
    model.truncate(123_457);
    assert_eq!(read_all(&mut fs, "/f"), model);
    fs.truncate("/f", 200_000).unwrap();
    model.resize(200_000, 0);
    assert_eq!(read_all(&mut fs, "/f"), model);
    fs.truncate("/f", 0).unwrap();
    assert_eq!(read_all(&mut fs, "/f"), Vec::<u8>::new());
    assert_eq!(fs.logical_bytes(), 0);
    assert!(matches!(
        fs.truncate("/", 0),
        Err(FsError::IsADirectory { .. })
    ));
    assert!(fs.fsck(true).unwrap().is_clean());
}

#[test]
fn directories_list_rmdir_unlink() {
    let mut fs = fresh_fs(4096);
    fs.mkdir_all("/a/b/c").unwrap();
    fs.mkdir_all("/a/b/c").unwrap();
    assert!(matches!(fs.mkdir("/a"), Err(FsError::AlreadyExists { .. })));
    assert!(matches!(fs.mkdir("/x/y"), Err(FsError::NotFound { .. })));
    for i in 0..600 {
        fs.write_file(&format!("/a/f{i:04}"), format!("{i}").as_bytes())
            .unwrap();
    }
    // Paged listing with a cursor.
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = fs.list("/a", after.as_deref(), 100).unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().name.clone());
        names.extend(page.into_iter().map(|e| (e.name, e.kind)));
    }
    assert_eq!(names.len(), 601);
    assert_eq!(names[0], ("b".to_string(), Kind::Dir));
    assert_eq!(names[1].0, "f0000");
    assert!(matches!(
        fs.rmdir("/a"),
        Err(FsError::DirectoryNotEmpty { .. })
    ));
    assert!(matches!(
        fs.rmdir("/a/f0001"),
        Err(FsError::NotADirectory { .. })
    ));
    assert!(matches!(
        fs.unlink("/a/b"),
        Err(FsError::IsADirectory { .. })
    ));
    assert!(matches!(
        fs.unlink("/a/nope"),
        Err(FsError::NotFound { .. })
    ));
    fs.unlink("/a/f0001").unwrap();
    assert!(!fs.exists("/a/f0001").unwrap());
    fs.rmdir("/a/b/c").unwrap();
    assert!(fs.list("/a/b", None, 10).unwrap().is_empty());
    assert!(matches!(
        fs.list("/a/f0002", None, 10),
        Err(FsError::NotADirectory { .. })
    ));
    assert!(matches!(
        fs.stat("/a/f0002/x"),
        Err(FsError::NotADirectory { .. })
    ));
    for bad in ["a", "/a//b", "/a/../b", "/a/./b", "/a/"] {
        assert!(
            matches!(fs.stat(bad), Err(FsError::InvalidPath { .. })),
            "{bad}"
        );
    }
    assert!(fs.remove_all("/a").unwrap());
    assert!(!fs.remove_all("/a").unwrap());
    assert_eq!(fs.logical_bytes(), 0);
    assert!(fs.fsck(true).unwrap().is_clean());
}

#[test]
fn rename_moves_and_replaces_atomically() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/src/file", b"new contents").unwrap();
    fs.write_file("/dst/file", b"old").unwrap();
    fs.rename("/src/file", "/dst/file").unwrap();
    assert_eq!(read_all(&mut fs, "/dst/file"), b"new contents");
    assert!(!fs.exists("/src/file").unwrap());
    assert_eq!(fs.logical_bytes(), 12);
    // Directory moves carry their subtree; into itself is refused.
    fs.write_file("/t/u/v", b"deep").unwrap();
    assert!(matches!(
        fs.rename("/t", "/t/u/w"),
        Err(FsError::InvalidRename { .. })
    ));
    fs.rename("/t", "/moved").unwrap();
    assert_eq!(read_all(&mut fs, "/moved/u/v"), b"deep");
    // Kind mismatches and non-empty targets.
    assert!(matches!(
        fs.rename("/dst/file", "/moved"),
        Err(FsError::IsADirectory { .. })
    ));
    assert!(matches!(
        fs.rename("/moved", "/dst/file"),
        Err(FsError::NotADirectory { .. })
    ));
    fs.mkdir("/empty").unwrap();
    fs.rename("/src", "/empty").unwrap();
    assert!(matches!(
        fs.rename("/dst", "/moved"),
        Err(FsError::DirectoryNotEmpty { .. })
    ));
    assert!(matches!(
        fs.rename("/nope", "/x"),
        Err(FsError::NotFound { .. })
    ));
    fs.rename("/moved", "/moved").unwrap();
    assert!(fs.fsck(true).unwrap().is_clean());
    // A failed operation changes nothing.
    let before = fs.walk(None).unwrap();
    assert!(fs.rename("/dst", "/moved").is_err());
    assert_eq!(fs.walk(None).unwrap(), before);
}

#[test]
fn identical_files_cost_their_bytes_once() {
    let mut fs = fresh_fs(8192);
    let data = noise(9, 2_000_000);
    fs.write_file("/one", &data).unwrap();
    let after_one = fs.stats().unwrap();
    fs.write_file("/two", &data).unwrap();
    let after_two = fs.stats().unwrap();
    assert_eq!(after_two.chunk_bytes, after_one.chunk_bytes);
    assert_eq!(after_two.logical_bytes, 4_000_000);
    assert!(
        (after_two.dedup_ratio - 2.0).abs() < 0.01,
        "{}",
        after_two.dedup_ratio
    );
}

#[test]
fn remount_sees_everything() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/a/b", b"persist me").unwrap();
    fs.snapshot_create("s1").unwrap();
    let store = fs.into_device();
    let dev = store.unmount().unwrap();
    let store = block::BlockStore::mount(dev, block::Config::default()).unwrap();
    let mut fs = filesystem::Fs::open(store, 0).unwrap();
    assert_eq!(read_all(&mut fs, "/a/b"), b"persist me");
    assert_eq!(fs.snapshot_list().unwrap().len(), 1);
    assert_eq!(fs.logical_bytes(), 10);
}

#[test]
fn blank_root_on_a_used_store_is_not_formatted_over() {
    let mut fs = fresh_fs(4096);
    fs.write_file("/precious", b"data").unwrap();
    let root = block::Transactional::root_block(fs.device_mut(), 0) as usize;
    let mut image = fs.into_device().unmount().unwrap().into_image();
    image[root * 4096..(root + 1) * 4096].fill(0);
    let store = block::BlockStore::mount(
        block::MemDevice::from_image(image),
        block::Config::default(),
    )
    .unwrap();
    match filesystem::Fs::open(store, 0) {
        Err(FsError::RootLost { slot: 0, .. }) => {}
        Err(e) => panic!("expected RootLost, got {e}"),
        Ok(_) => panic!("formatted over a store in use"),
    }
}
